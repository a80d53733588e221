"""Venue adapters: everything one exchange's APIs need, one folder per venue.

Each venue (`kraken/`) owns its field names, error strings, pair rules, market
data parsing and order clients; the services see only the generic shapes in
this package (`order.py`, `errors.py`) and the protocols they declare
themselves. A second venue is one new folder beside `kraken/`.

`venues` may import `common`; it never imports `services` or `orchestration`
(and `common` never imports `venues`).
"""
