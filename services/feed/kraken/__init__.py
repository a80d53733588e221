"""Kraken WebSocket v2: the only package that knows Kraken's field names."""
