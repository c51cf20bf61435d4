"""shows"""
