"""Kraken WebSocket v2 market data: frames in, books and ticks out (the feed drives it)."""
