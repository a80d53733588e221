"""`SpotAccount`: paper's balances per asset, as a Kraken spot account holds them. Pure.

Kraken refuses a spot order the account cannot pay for
(`EOrder:Insufficient funds`): a sell needs the base asset on hand, a buy the
quote asset for its cost plus fee. So paper keeps balances per asset
(`--balances USD=10000,BTC=0`), holds back what each open order may still
take (a sell: its base qty; a buy: qty x reference price x
(1 + `BUY_HOLD_HEADROOM`) x (1 + fee rate) of quote, because a market buy
fills at the ask on arrival, not at the price it was decided on), and
settles each fill: base in or out, its cost out or in, its fee out of the
quote asset (Kraken's default for spot). Without margin there is no short:
a balance never goes below zero.

An order larger than what the account can pay for is cut to what it can
(if that still meets the pair's minimums), the way the engine cuts an order
to the room under `--max-position`; otherwise it is refused with reason
`insufficient_funds` and Kraken's error text. Amounts are `Decimal`; floats
only at the edges (fills, result.json).

Margin (`--margin`, off by default) allows a short, as Kraken's margin
trading does: the collateral is the account's equity in the pair's quote
(the quote not held for open orders plus the base balance at the order's
reference price), and the short may reach collateral x the pair's
leverage (`DEFAULT_MARGIN_LEVERAGE` until the pair table carries Kraken's
`leverage_sell`). Kraken charges an opening fee on
the notional a margin position opens (`MARGIN_OPENING_FEE_RATE`) and a
rollover fee every 4 hours it stays open (0.02 %, not modelled yet): the
opening fee is added to the fill's fee, so journals, PnL and result.json
carry it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Final

import msgspec

from common.messages import Fill, Side
from services.executor.quantities import exact

KRAKEN_INSUFFICIENT_FUNDS: Final = "EOrder:Insufficient funds"
# A buy's hold covers the ask moving this far above its reference price before
# the order reaches the market (the price band's default is 50 bps; 1% is twice it).
BUY_HOLD_HEADROOM: Final = Decimal("0.01")
_HEADROOM_FACTOR: Final = 1 + BUY_HOLD_HEADROOM
_AFFORDABLE_QUANTUM: Final = Decimal("1e-12")  # the finest base amount `affordable` says
# Without --balances: what the demo (BTC/USDT from the bundled recording) and a
# BTC/USD run start with. No base asset: a spot account starts flat.
DEFAULT_BALANCES: Final = ("USD=10000", "USDT=10000")
# Kraken's AssetPairs `leverage_sell` lists 2 as the lowest leverage of every margin
# pair (BTC/USD: 2-5): the cautious default while the pair table has no column for it.
DEFAULT_MARGIN_LEVERAGE: Final = Decimal(2)
# Kraken's margin opening fee: 0.02 % of the position's notional for most pairs
# (0.01-0.02 % for BTC); the 4-hourly rollover fee (also 0.02 %) is not modelled.
MARGIN_OPENING_FEE_RATE: Final = Decimal("0.0002")


def balance_list(text: str) -> tuple[str, ...]:
    """Parse `USD=10000,BTC=0` into normalised `ASSET=amount` items (a config parser)."""
    items = []
    seen: set[str] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        asset, sep, amount = part.partition("=")
        asset = asset.strip().upper()
        if not sep or not asset.isalnum():
            raise ValueError(f"expected ASSET=AMOUNT, got {part.strip()!r}")
        if asset in seen:
            raise ValueError(f"{asset} given twice")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            raise ValueError(f"{asset}: {amount.strip()!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise ValueError(f"{asset}: a balance must be a finite amount >= 0")
        seen.add(asset)
        items.append(f"{asset}={value.normalize():f}")
    if not items:
        raise ValueError(f"expected ASSET=AMOUNT,... got {text!r}")
    return tuple(items)


def balances_of(items: tuple[str, ...]) -> dict[str, Decimal]:
    """`balance_list`'s items as amounts per asset."""
    return {asset: Decimal(amount) for asset, _, amount in (i.partition("=") for i in items)}


def assets_of(symbol: str) -> tuple[str, str]:
    """`BTC/USD` -> (`BTC`, `USD`): the base and quote assets of a Kraken v2 symbol."""
    base, _, quote = symbol.partition("/")
    return base, quote


@dataclass
class _Hold:
    asset: str
    per_unit: Decimal  # of `asset`, per base unit of the order
    qty: Decimal  # base units still to fill


@dataclass
class SpotAccount:
    """Balances per asset and what open orders hold back; see the module docstring."""

    balances: dict[str, Decimal]
    fee_rate: Decimal = Decimal(0)  # taker, to size a buy's hold
    margin: bool = False  # shorts allowed, within collateral x leverage
    leverage: Decimal = DEFAULT_MARGIN_LEVERAGE
    _holds: dict[str, _Hold] = field(default_factory=dict)

    def opening(self) -> dict[str, float]:
        """The balances as floats (the journal's `account_opened` mark)."""
        return {asset: float(amount) for asset, amount in sorted(self.balances.items())}

    def held(self, asset: str) -> Decimal:
        if not self._holds:
            return Decimal(0)  # no open order: the sum below, without building it
        return sum(
            (h.per_unit * h.qty for h in self._holds.values() if h.asset == asset), Decimal(0)
        )

    def balances_and_holds(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Each asset's balance and what open orders hold of it. Both are copied first
        (one C-level copy each), so the metrics scrape may call it while the loop trades."""
        balances, holds = dict(self.balances), list(self._holds.values())
        held: dict[str, Decimal] = {}
        for hold in holds:
            held[hold.asset] = held.get(hold.asset, Decimal(0)) + hold.per_unit * hold.qty
        return {asset: (amount, held.get(asset, Decimal(0))) for asset, amount in balances.items()}

    def available(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0)) - self.held(asset)

    def affordable(self, symbol: str, side: Side, ref_price: float) -> float:
        """The largest order (base units) the account can pay for now."""
        asset, per_unit = self._cost(symbol, side, ref_price)
        available = self.available(asset)
        room = max(available, Decimal(0))
        if self.margin and side is Side.SELL:
            room = available + self._short_room(symbol, ref_price)
        if per_unit <= 0 or room <= 0:
            return 0.0
        return float((room / per_unit).quantize(_AFFORDABLE_QUANTUM, ROUND_DOWN))

    def _short_room(self, symbol: str, ref_price: float) -> Decimal:
        """Margin: how far (base units) the base balance may go below zero, all holds counted."""
        base, quote = assets_of(symbol)
        price = exact(ref_price)
        # Equity, not the quote balance: a short sale's proceeds are no collateral.
        equity = self.available(quote) + self.balances.get(base, Decimal(0)) * price
        return max(equity, Decimal(0)) * self.leverage / price

    def with_margin_fee(self, fill: Fill) -> Fill:
        """The fill with Kraken's margin opening fee added, for the part that opens a short."""
        if not self.margin or fill.side is not Side.SELL:
            return fill
        base = assets_of(fill.symbol)[0]
        after = self.balances.get(base, Decimal(0)) - exact(fill.qty)
        opened = min(exact(fill.qty), max(-after, Decimal(0)))
        if opened == 0:
            return fill
        opening_fee = opened * exact(fill.price) * MARGIN_OPENING_FEE_RATE
        return msgspec.structs.replace(fill, fee=float(exact(fill.fee) + opening_fee))

    def hold(self, order_id: str, symbol: str, side: Side, qty: float, ref_price: float) -> None:
        """Hold back what an order just submitted may take until it is filled or refused."""
        asset, per_unit = self._cost(symbol, side, ref_price)
        self._holds[order_id] = _Hold(asset, per_unit, exact(qty))

    def release(self, order_id: str, qty: float) -> None:
        """`qty` of an order will not fill (refused by the venue): its hold comes free."""
        hold = self._holds.get(order_id)
        if hold is None:
            return
        hold.qty -= exact(qty)
        if hold.qty <= 0:
            del self._holds[order_id]

    def settle(self, fill: Fill) -> None:
        """Move the fill's base and quote, take its fee in quote, free its part of the hold."""
        base, quote = assets_of(fill.symbol)
        qty, cost, fee = exact(fill.qty), exact(fill.qty) * exact(fill.price), exact(fill.fee)
        sign = 1 if fill.side is Side.BUY else -1
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * qty
        self.balances[quote] = self.balances.get(quote, Decimal(0)) - sign * cost - fee
        self.release(fill.order_id, fill.qty)

    def equity(self, currency: str, marks: dict[str, float]) -> tuple[float, list[str]]:
        """Every balance valued in `currency` at `marks` (symbol -> mid), and the assets
        that could not be valued (no `ASSET/currency` mark)."""
        total, unvalued = Decimal(0), []
        for asset, amount in sorted(self.balances.items()):
            if asset == currency:
                total += amount
            elif f"{asset}/{currency}" in marks:
                total += amount * exact(marks[f"{asset}/{currency}"])
            elif amount != 0:
                unvalued.append(asset)
        return float(total), unvalued

    def _cost(self, symbol: str, side: Side, ref_price: float) -> tuple[str, Decimal]:
        base, quote = assets_of(symbol)
        if side is Side.SELL:
            return base, Decimal(1)
        return quote, exact(ref_price) * _HEADROOM_FACTOR * (1 + self.fee_rate)
