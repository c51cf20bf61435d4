"""The live hub: WebSocket sessions, rooms fed from each show's stream, chat and moderation."""
