"""Kraken: the only package that knows Kraken's field names, error strings and rules.

- `ws/`: WebSocket v2 market data (parse frames, the book and its CRC32
  checksum, the pure session, the connection client);
- `rest/`: spot REST trading (what an error string means, order parsing and
  deadlines, the ccxt and krakenex providers);
- `pairs.py`: pair rules (precision, increments, minimums) from
  `data/kraken_pairs.json`;
- `errors.py`: the errors only the Kraken adapter raises.
"""
