"""inventory: a brand's stock at catalog level, and moves between it and shows"""
