"""Kraken spot REST trading behind the executor's `Venue` protocol (ccxt or krakenex)."""
