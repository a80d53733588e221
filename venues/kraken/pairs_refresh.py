"""Rebuild `data/kraken_pairs.json` from Kraken's public `AssetPairs` answer.

    python -m venues.kraken.pairs refresh [--url https://api.kraken.com] [--out FILE]
    python -m venues.kraken.pairs refresh --from-file saved_AssetPairs.json

Online, it asks `GET <url>/0/public/AssetPairs` (public, unsigned); offline,
it reads an answer saved earlier. Either way the file written records where
the facts came from and when, and is written whole or not at all. Exit 0 on
success, 2 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from venues.kraken.pairs import DEFAULT_PAIRS_FILE, pairs_from_asset_pairs
from venues.kraken.rest.orders import KRAKEN_REST_URL

ASSET_PAIRS_PATH: Final = "/0/public/AssetPairs"
TIMEOUT_S: Final = 30.0
USER_AGENT: Final = "paper-live-runner pairs refresh"


class RefreshFailed(Exception):
    """The answer could not be had or read; nothing was written."""


def fetch_asset_pairs(base_url: str) -> dict[str, Any]:
    """Kraken's `AssetPairs` `result` from `base_url`."""
    request = urllib.request.Request(
        base_url.rstrip("/") + ASSET_PAIRS_PATH, headers={"User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = response.read()
    except (urllib.error.URLError, OSError) as e:
        raise RefreshFailed(f"{base_url}{ASSET_PAIRS_PATH}: {e}") from None
    return _result(body, f"{base_url}{ASSET_PAIRS_PATH}")


def _result(body: bytes, source: str) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError as e:
        raise RefreshFailed(f"{source}: not JSON ({e})") from None
    if not isinstance(answer, dict) or answer.get("error") or not answer.get("result"):
        errors = answer.get("error") if isinstance(answer, dict) else None
        raise RefreshFailed(f"{source}: no AssetPairs result (error: {errors})")
    result: dict[str, Any] = answer["result"]
    return result


def write_table(result: dict[str, Any], source: str, out: Path, taken: datetime) -> int:
    """Write the table for `result` to `out` (atomically); how many pairs it holds."""
    try:
        pairs = pairs_from_asset_pairs(result)
    except ValueError as e:
        raise RefreshFailed(f"{source}: {e}") from None
    table = {
        "_about": (
            "Kraken spot pair rules, every pair of Kraken's public AssetPairs answer: "
            "price_precision = pair_decimals, qty_precision = lot_decimals, "
            "price_increment = tick_size, qty_min = ordermin, cost_min = costmin, "
            "rest_pair = altname; symbols as WebSocket v2 spells them (XBT -> BTC, "
            "XDG -> DOGE). Refresh: python -m venues.kraken.pairs refresh."
        ),
        "source": source,
        "taken": taken.strftime("%Y-%m-%d"),
        "pairs": pairs,
    }
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(json.dumps(table, indent=1) + "\n")
    os.replace(temporary, out)
    return len(pairs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m venues.kraken.pairs")
    commands = parser.add_subparsers(dest="command", required=True)
    refresh = commands.add_parser("refresh", help="rebuild the pair table from AssetPairs")
    refresh.add_argument("--url", default=KRAKEN_REST_URL, help="Kraken's REST base URL")
    refresh.add_argument("--from-file", type=Path, help="a saved AssetPairs answer instead")
    refresh.add_argument("--taken", help="date the saved answer was taken (YYYY-MM-DD)")
    refresh.add_argument("--out", type=Path, default=DEFAULT_PAIRS_FILE)
    args = parser.parse_args(argv)
    try:
        if args.from_file is not None:
            source = f"saved AssetPairs answer {args.from_file.name}"
            try:
                result = _result(args.from_file.read_bytes(), str(args.from_file))
            except OSError as e:
                raise RefreshFailed(f"{args.from_file}: {e}") from None
        else:
            source = f"{args.url.rstrip('/')}{ASSET_PAIRS_PATH}"
            result = fetch_asset_pairs(args.url)
        taken = datetime.now(UTC)
        if args.taken:
            taken = datetime.strptime(args.taken, "%Y-%m-%d").replace(tzinfo=UTC)
        count = write_table(result, source, args.out, taken)
    except (RefreshFailed, ValueError, OSError) as e:
        print(f"pairs refresh failed: {e}", file=sys.stderr)
        return 2
    print(f"{count} pairs written to {args.out}")
    return 0
