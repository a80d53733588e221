"""The benchmark's ratios (each figure over its same-run baseline) and its terminal table."""

from __future__ import annotations

from typing import Any

from bench.chain import BATCH

# The targets of the benchmark issue, on this 2-core machine.
TARGETS = {
    "replay_bundled_vs_unbatched_chain": 0.6,
    "replay_large_vs_unbatched_chain": 0.6,
    "replay_bundled_batched_vs_batched_chain": 0.6,
    "replay_large_batched_vs_batched_chain": 0.6,
    "latency_p50_vs_chain_at_1000": 1.5,
    "latency_p99_vs_chain_at_1000": 2.0,
    "memory_growth_max": 0.10,
    "memory_batched_growth_max": 0.10,
    "sklearn_batched_vs_single_row": 20.0,
    "sklearn_p50_at_100_vs_single_row": 1.2,
    "replay_batched_vs_peer": 1.0,  # the stretch goal; unbatched is reported beside it
}


def ratios(figures: dict[str, Any]) -> dict[str, Any]:
    # Every section is optional (`python -m bench --only ...`).
    base = figures["baseline"]
    out: dict[str, Any] = {}
    for name, replay in figures.get("replay", {}).items():
        # Each mode against the chain that moves ticks the same way.
        kind = "batched" if replay.get("ticks_per_message", 1) > 1 else "unbatched"
        out[f"replay_{name}_vs_{kind}_chain"] = replay["ticks_per_s"] / base[kind]["ticks_per_s"]
    for rate, measured in figures.get("latency", {}).items():
        chain = base["latency"].get(rate)
        target = measured["tick_to_target"]
        if chain is None or target is None:
            continue
        for p in ("p50_us", "p99_us", "p999_us"):
            out[f"latency_{p[:-3]}_vs_chain_at_{rate}"] = target[p] / chain[p]
    for mode in ("", "_batched"):
        growth = figures.get("memory" + mode, {}).get("growth") or {}
        if growth:
            out[f"memory{mode}_growth_max"] = max(growth.values())
    sklearn = figures.get("model_step", {}).get("sklearn")
    if sklearn:
        out["sklearn_batched_vs_single_row"] = sklearn["batched_per_s"] / sklearn["single_per_s"]
        p50 = sklearn.get("service_p50_us_at_100")
        if p50:
            out["sklearn_p50_at_100_vs_single_row"] = p50["batched"] / p50["single_row"]
    targets = figures.get("executor_targets")
    if targets:
        out["executor_with_targets_vs_ticks_alone"] = targets["ratio"]
    if figures.get("curve"):
        out |= curve_ratios(figures["curve"])
    peer = figures.get("peer")
    if peer and peer.get("quotes_per_s"):
        # Our bundled replays measured in the peer's rounds (`interleaved_peer`).
        for mode, batch in (("", "1"), ("_batched", str(BATCH))):
            rate = peer.get("ours_ticks_per_s", {}).get(batch)
            if rate:
                out[f"replay{mode}_vs_peer"] = rate / peer["quotes_per_s"]
        matched = peer.get("ours_matched")
        if matched:  # no target: the figure is the demo model's (above)
            out["replay_batched_at_peers_order_rate_vs_peer"] = (
                matched["ticks_per_s"] / peer["quotes_per_s"]
            )
        # The ratios above are the issue's: our ticks/s (the file's quotes and
        # trades) over the peer's quotes/s (it is given the quotes only). The
        # same file's replays, start to end, compare as files per second:
        ticks = peer.get("ours_ticks_in_file")
        if ticks:
            for name in ("replay_vs_peer", "replay_batched_vs_peer"):
                if name in out:
                    out[f"{name}_per_file"] = out[name] * peer["quotes"] / ticks
    return out


def table(figures: dict[str, Any]) -> str:
    base, replay = figures["baseline"], figures.get("replay", {})
    lines = [
        f"machine: {figures['machine']['cores']} cores, {figures['machine']['cpu']}, "
        f"Python {figures['machine']['python']}; {figures['date']}"
        + ("  [SMOKE: numbers mean nothing]" if figures.get("smoke") else ""),
        "",
        f"{'figure':<52} {'value':>14}  baseline (same run)",
        f"{'-' * 52} {'-' * 14}  {'-' * 30}",
    ]

    def row(name: str, value: str, baseline: str = "") -> None:
        lines.append(line(name, value, baseline))

    for kind, label in (("unbatched", "1 tick"), ("batched", f"{BATCH} ticks")):
        if kind in base:
            row(f"chain, {label}/message", f"{base[kind]['ticks_per_s']:,.0f}/s", "(the baseline)")
    for name, measured in replay.items():
        ok = "lossless" if measured["lossless"] else "LOST TICKS"
        per_message = measured.get("ticks_per_message", 1)
        kind = "batched" if per_message > 1 else "unbatched"
        row(
            f"replay {name}: {measured['ticks_in_file']:,} ticks, {per_message}/message",
            f"{measured['ticks_per_s']:,.0f}/s",
            f"x{measured['ticks_per_s'] / base[kind]['ticks_per_s']:.3f} {kind} chain; {ok}",
        )
    for rate, measured in figures.get("latency", {}).items():
        chain = base["latency"].get(rate, {})
        for kind in ("tick_to_target", "tick_to_prediction"):
            got = measured.get(kind)
            if not got:
                continue
            for p in ("p50_us", "p99_us", "p999_us"):
                row(
                    f"{kind.replace('_', ' ')} {p[:-3]} at {rate}/s",
                    f"{got[p]:,.0f} us",
                    f"chain {chain.get(p, float('nan')):,.0f} us "
                    f"(x{got[p] / chain.get(p, float('nan')):.2f})",
                )
    if figures.get("curve"):
        lines.extend(line(*r) for r in curve_rows(figures["curve"]))
    for mode, label in (("memory", "1/message"), ("memory_batched", f"{BATCH}/message")):
        memory = figures.get(mode)
        if not memory:
            continue
        for mark, services in memory["rss_mib"].items():
            row(
                f"resident MiB after {int(mark):,} ticks, {label}",
                " ".join(f"{v:.0f}" for v in services.values()),
                " ".join(services),
            )
        marks = [f"{int(m):,}" for m in memory["rss_mib"]]
        late = memory.get("late_growth") or {}
        for service, growth in (memory.get("growth") or {}).items():
            detail = f"{marks[0]} -> {marks[-1]} ticks"
            if service in late:
                detail += f"; {late[service] * 100:+.1f}% from {marks[-2]}"
            row(f"memory growth, {service}, {label}", f"{growth * 100:+.1f}%", detail)
    step = figures.get("model_step", {})
    if step:
        row(
            "model step, numpy ridge",
            f"{step['numpy_us']:.2f} us",
            f"decode {step['decode_us']:.2f} us",
        )
    sklearn = step.get("sklearn")
    if sklearn:
        row("model step, sklearn single-row", f"{sklearn['single_us']:.1f} us", "")
        row("model step, sklearn batched (64 queued)", f"{sklearn['batched_us']:.1f} us", "")
        p50 = sklearn.get("service_p50_us_at_100")
        if p50:
            row(
                "sklearn service p50 at 100/s, batching on",
                f"{p50['batched']:,.0f} us",
                f"batching off {p50['single_row']:,.0f} us",
            )
    targets = figures.get("executor_targets")
    if targets:
        row(
            f"executor CPU/tick, {targets['targets']:,} targets",
            f"{targets['with_targets_us_per_tick']:.2f} us",
            f"ticks alone {targets['ticks_alone_us_per_tick']:.2f} us; "
            f"{targets['us_per_target']:.0f} us a target",
        )
    parse = figures.get("feed_parse")
    if parse:
        row(
            "feed parse + book + checksum",
            f"{parse['messages_per_s']:,.0f}/s",
            f"json.loads {parse['json_loads_per_s']:,.0f}/s",
        )
    peer = figures.get("peer")
    if peer:
        row("peer: NautilusTrader BacktestEngine", f"{peer['quotes_per_s']:,.0f}/s", peer["detail"])
        for batch, rate in peer.get("ours_ticks_per_s", {}).items():
            row(
                f"  our bundled replay, {batch}/message, same rounds",
                f"{rate:,.0f}/s",
                f"median of {peer.get('rounds', 1)} rounds alternating with the peer's",
            )
        matched = peer.get("ours_matched")
        if matched:
            row(
                f"  ours, {BATCH}/message, at about the peer's order rate",
                f"{matched['ticks_per_s']:,.0f}/s",
                f"deadband {matched['deadband_bps']:g} bps: {matched['targets']:,} targets, "
                f"{matched['orders']:,} orders",
            )
    lines += ["", "ratios (target):"]
    for name, value in figures["ratios"].items():
        target = TARGETS.get(name)
        lines.append(f"  {name:<50} {value:8.3f}" + (f"   (target {target:g})" if target else ""))
    return "\n".join(lines)


def line(name: str, value: str, baseline: str = "") -> str:
    """One row of the table."""
    return f"{name:<52} {value:>14}  {baseline}"


def curve_ratios(curve: dict[str, Any]) -> dict[str, float]:
    """CURVE over plain tcp, same rounds (`bench.curve`); tcp over ipc for reference."""
    hop, replay = curve["chain"], curve["replay"]
    out = {"curve_chain_vs_tcp_chain": hop["ticks_per_s"]["curve"] / hop["ticks_per_s"]["plain"]}
    for rate, by_side in hop["latency"].items():
        for p in ("p50_us", "p99_us"):
            out[f"curve_chain_{p[:-3]}_vs_tcp_at_{rate}"] = (
                by_side["curve"][p] / by_side["plain"][p]
            )
    speeds = replay["ticks_per_s"]
    out["curve_replay_vs_tcp_replay"] = speeds["curve"] / speeds["plain"]
    out["tcp_replay_vs_ipc_replay"] = speeds["plain"] / speeds["ipc"]
    return out


def curve_rows(curve: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table's rows for `bench.curve`'s figures: each CURVE figure beside plain tcp's."""
    hop, replay = curve["chain"], curve["replay"]
    rounds = f"median of {hop['rounds']} alternating rounds"
    plain, secure = hop["ticks_per_s"]["plain"], hop["ticks_per_s"]["curve"]
    rows = [
        ("chain over tcp, 1 tick/message, plain", f"{plain:,.0f}/s", rounds),
        ("chain over tcp, 1 tick/message, CURVE", f"{secure:,.0f}/s", f"x{secure / plain:.3f} tcp"),
    ]
    for rate, by_side in hop["latency"].items():
        for p in ("p50_us", "p99_us"):
            base, got = by_side["plain"][p], by_side["curve"][p]
            rows.append(
                (
                    f"chain over tcp {p[:-3]} at {rate}/s, CURVE",
                    f"{got:,.0f} us",
                    f"plain {base:,.0f} us (x{got / base:.2f})",
                )
            )
    speeds, lossless = replay["ticks_per_s"], replay["lossless"]
    name = f"replay {replay['ticks_in_file']:,} ticks, {replay['ticks_per_message']}/message"
    for side, label, baseline in (
        ("ipc", "ipc", f"(reference) median of {replay['rounds']} alternating rounds"),
        ("plain", "tcp plain", f"x{speeds['plain'] / speeds['ipc']:.3f} ipc"),
        ("curve", "tcp CURVE", f"x{speeds['curve'] / speeds['plain']:.3f} tcp plain"),
    ):
        ok = "lossless" if lossless[side] else "LOST TICKS"
        rows.append((f"{name}, {label}", f"{speeds[side]:,.0f}/s", f"{baseline}; {ok}"))
    return rows


def curve_table(figures: dict[str, Any]) -> str:
    """`python -m bench.curve`'s table: its rows and ratios alone."""
    lines = [
        f"machine: {figures['machine']['cores']} cores, {figures['machine']['cpu']}, "
        f"Python {figures['machine']['python']}; {figures['date']}"
        + ("  [SMOKE: numbers mean nothing]" if figures.get("smoke") else ""),
        "",
        line("figure", "value", "baseline (same run)"),
        line("-" * 52, "-" * 14, "-" * 30),
    ]
    lines.extend(line(*r) for r in curve_rows(figures["curve"]))
    lines += ["", "ratios:"]
    lines.extend(f"  {name:<50} {value:8.3f}" for name, value in figures["ratios"].items())
    return "\n".join(lines)
