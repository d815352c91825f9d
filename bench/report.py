"""The benchmark's figures: medians and min-max over the rounds, the ratios, and the two tables
(every measurement; issue 8's targets with the measured ratio and whether it is met)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from bench.movements import MOVEMENTS
from bench.product import LoadResult

if TYPE_CHECKING:
    from bench.run import Options, Round

TARGETS = {
    "single": 1.0,
    "bulk": 0.8,
    "hot": 0.5,
    "half_p99": 5.0,
    "sqlite": 1.0,
    "loadgen_cpu_share": 0.10,
}
"""Issue 8's targets: ratios at least this (p99 and the load generator's CPU: at most)."""


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(rounds: list[Round], options: Options) -> dict[str, Any]:
    raw_one = _stats([r.raw_one.transfers_per_s for r in rounds])
    raw_batch = _stats([r.raw_batch.transfers_per_s for r in rounds])
    summary: dict[str, Any] = {
        "raw-1": raw_one | {"latency_ms": statistics.median(r.raw_one.latency_ms for r in rounds)},
        "raw-batch": raw_batch | {"latency_ms": statistics.median(r.raw_batch.latency_ms for r in rounds)},
        "product": {},
    }
    for index, connections in enumerate(options.connections):
        runs = [r.product[index] for r in rounds]
        rate = _stats([run.transfers_per_s for run in runs])
        summary["product"][f"c{connections}"] = rate | {
            "p50_ms": statistics.median(run.p50_ms for run in runs),
            "p99_ms": statistics.median(run.p99_ms for run in runs),
            "vs_raw_1": rate["median"] / raw_one["median"],
            "vs_raw_batch": rate["median"] / raw_batch["median"],
            "loadgen_cpu_share": statistics.median(run.loadgen_cpu_share for run in runs),
            "server_cpu_ms_per_transfer": statistics.median(
                1000 * run.server_cpu_s / run.transfers_in_table for run in runs if run.transfers_in_table
            )
            if any(run.transfers_in_table for run in runs)
            else 0.0,
        }
    halves = [r.half for r in rounds if r.half is not None]
    if halves:
        p99 = statistics.median(h.p99_ms for h in halves)
        summary["half-load"] = {
            "rate": statistics.median(h.target_rate or 0.0 for h in halves),
            "achieved": statistics.median(h.transfers_per_s for h in halves),
            "p50_ms": statistics.median(h.p50_ms for h in halves),
            "p99_ms": p99,
            "p99_vs_raw_1_mean_latency": p99 / summary["raw-1"]["latency_ms"],
        }
    summary["daemon_peak_rss_mib"] = max(r.peak_rss_kib for r in rounds) / 1024
    summary["hot"] = summarize_hot(rounds, options)
    summary["bulk"] = summarize_bulk(rounds, raw_batch)
    summary["sqlite"] = summarize_sqlite(rounds)
    summary["movements"] = summarize_movements(rounds)
    summary["peak_rss_mib_after"] = peak_rss_by_leg(rounds)
    return summary


def _cpu_ms_per_transfer(runs: list[LoadResult]) -> float:
    counted = [1000 * run.server_cpu_s / run.transfers_in_table for run in runs if run.transfers_in_table]
    return statistics.median(counted) if counted else 0.0


def _load_figures(runs: list[LoadResult]) -> dict[str, float]:
    """Median, min-max, latency and CPU figures of one kind of load run over the rounds."""
    return _stats([run.transfers_per_s for run in runs]) | {
        "p50_ms": statistics.median(run.p50_ms for run in runs),
        "p99_ms": statistics.median(run.p99_ms for run in runs),
        "loadgen_cpu_share": statistics.median(run.loadgen_cpu_share for run in runs),
        "server_cpu_ms_per_transfer": _cpu_ms_per_transfer(runs),
    }


def summarize_hot(rounds: list[Round], options: Options) -> dict[str, Any] | None:
    hots = [r.hot for r in rounds if r.hot is not None]
    if not hots:
        return None
    connections = hots[0].connections
    uniform = [run for r in rounds for run in r.product if run.connections == connections]
    figures = _load_figures(hots)
    return figures | {
        "connections": connections,
        "share": options.hot_share,
        "uniform_median": statistics.median(run.transfers_per_s for run in uniform),
        "vs_uniform": figures["median"] / statistics.median(run.transfers_per_s for run in uniform),
    }


def summarize_movements(rounds: list[Round]) -> dict[str, dict[str, Any]]:
    """Each movement leg: operations/s (median, min-max), and its ratio to the single-transfer
    rate of the same rounds at the same connection count (median over median)."""
    legs: dict[str, dict[str, Any]] = {}
    for name in MOVEMENTS:
        runs = [r.movements[name] for r in rounds if name in r.movements]
        if not runs:
            continue
        connections = runs[0].connections
        single = statistics.median(
            run.transfers_per_s for r in rounds for run in r.product if run.connections == connections
        )
        figures = _load_figures(runs)
        legs[name] = figures | {
            "connections": connections,
            "requests_per_s": statistics.median(run.requests / run.duration_s for run in runs),
            "single_median": single,
            "vs_single": figures["median"] / single if single else 0.0,
        }
    return legs


def summarize_bulk(rounds: list[Round], raw_batch: dict[str, float]) -> dict[str, Any] | None:
    bulks = [r.bulk for r in rounds if r.bulk is not None]
    if not bulks:
        return None
    first = bulks[0]
    if any(run.missing for run in bulks):
        return {"missing": True, "clients": first.connections, "items": first.bulk}
    figures = _load_figures(bulks)
    return figures | {
        "missing": False,
        "clients": first.connections,
        "items": first.bulk,
        "vs_raw_batch": figures["median"] / raw_batch["median"],
    }


def summarize_sqlite(rounds: list[Round]) -> dict[str, Any] | None:
    legs = [r.sqlite for r in rounds if r.sqlite is not None]
    if not legs:
        return None
    raw = _stats([leg.raw.transfers_per_s for leg in legs])
    api = _load_figures([leg.api for leg in legs])
    return {
        "raw": raw | {"latency_ms": statistics.median(leg.raw.latency_ms for leg in legs)},
        "api": api | {"connections": legs[0].api.connections},
        "vs_raw": api["median"] / raw["median"],
        "pragmas": legs[0].raw.pragmas,
        "daemon_peak_rss_mib": max(leg.peak_rss_kib for leg in legs) / 1024,
    }


def peak_rss_by_leg(rounds: list[Round]) -> dict[str, float]:
    """The daemon's VmHWM right after each leg, max over rounds (VmHWM only grows within one
    daemon process, and each round starts a fresh one, so the jumps show which leg needed it)."""
    peaks: dict[str, float] = {}
    for r in rounds:
        runs = [*r.product, *(run for run in (r.half, r.hot, r.bulk) if run is not None)]
        runs += r.movements.values()
        if r.sqlite is not None:
            runs.append(r.sqlite.api)
        for run in runs:
            peaks[run.label] = max(peaks.get(run.label, 0.0), run.daemon_rss_kib / 1024)
    return peaks


def _row(name: str, stats: dict[str, float], extra: str = "") -> str:
    spread = f"{stats['min']:,.1f}-{stats['max']:,.1f}"
    return f"| {name} | {stats['median']:,.1f} | {spread} | {extra} |"


def table(summary: dict[str, Any], options: Options) -> str:
    raw_one, raw_batch = summary["raw-1"], summary["raw-batch"]
    lines = [
        "| measurement | transfers/s (median) | min-max | notes |",
        "| --- | --- | --- | --- |",
        _row(
            f"raw-1: raw SQL, 1 per commit, {options.raw_clients} clients",
            raw_one,
            f"mean latency {raw_one['latency_ms']:.2f} ms per commit",
        ),
        _row(
            f"raw-batch: raw SQL, {options.batch} per commit set-based, {options.raw_clients} clients",
            raw_batch,
            f"mean latency {raw_batch['latency_ms']:.1f} ms per commit",
        ),
    ]
    for label, stats in summary["product"].items():
        notes = (
            f"p50 {stats['p50_ms']:,.0f} ms, p99 {stats['p99_ms']:,.0f} ms; "
            f"{stats['vs_raw_1']:.3f}x raw-1, {stats['vs_raw_batch']:.3f}x raw-batch; "
            f"server CPU {stats['server_cpu_ms_per_transfer']:.1f} ms/transfer; "
            f"load generator CPU {100 * stats['loadgen_cpu_share']:.1f}% of the server's"
        )
        lines.append(
            _row(f"product: POST /v1/transfers, {label[1:]} connections ({options.load})", stats, notes)
        )
    half = summary.get("half-load")
    if half:
        lines.append(
            f"| product at half its max, open loop (Python) | {half['achieved']:,.1f} | "
            f"target {half['rate']:,.1f}/s | p50 {half['p50_ms']:,.0f} ms, p99 {half['p99_ms']:,.0f} ms = "
            f"{half['p99_vs_raw_1_mean_latency']:,.0f}x raw-1 mean latency |"
        )
    lines += movement_rows(summary, options)
    lines += new_leg_rows(summary, options)
    lines.append(
        f"| daemon peak RSS | {summary['daemon_peak_rss_mib']:,.0f} MiB | | max over rounds (Postgres "
        f"daemon); transfer_batch_max {summary.get('transfer_batch_max', {}).get('postgres', '?')} |"
    )
    return "\n".join(lines)


def movement_rows(summary: dict[str, Any], options: Options) -> list[str]:
    """One row per movement leg: operations/s, side by side with the single-transfer rate."""
    lines = []
    for name, leg in summary.get("movements", {}).items():
        movement = MOVEMENTS[name]
        lines.append(
            _row(
                f"{movement.title}, {leg['connections']} connections ({options.load}); operations/s",
                leg,
                f"{leg['vs_single']:.3f}x single transfer ({leg['single_median']:,.1f}/s); "
                f"{leg['requests_per_s']:,.1f} requests/s ({movement.requests_per_operation} per "
                f"operation); per request p50 {leg['p50_ms']:,.0f} ms, p99 {leg['p99_ms']:,.0f} ms; "
                f"server CPU {leg['server_cpu_ms_per_transfer']:.1f} ms/operation; load generator CPU "
                f"{100 * leg['loadgen_cpu_share']:.1f}% of the server's",
            )
        )
    return lines


def new_leg_rows(summary: dict[str, Any], options: Options) -> list[str]:
    """The rows of the hot-wallet, bulk and SQLite legs."""
    lines = []
    hot = summary.get("hot")
    if hot:
        lines.append(
            _row(
                f"hot wallet: POST /v1/transfers, {100 * hot['share']:.0f}% to one wallet, "
                f"{hot['connections']} connections ({options.load})",
                hot,
                f"p50 {hot['p50_ms']:,.0f} ms, p99 {hot['p99_ms']:,.0f} ms; {hot['vs_uniform']:.3f}x uniform "
                f"({hot['uniform_median']:,.1f}/s); server CPU {hot['server_cpu_ms_per_transfer']:.1f} "
                f"ms/transfer; load generator CPU {100 * hot['loadgen_cpu_share']:.1f}% of the server's",
            )
        )
    bulk = summary.get("bulk")
    if bulk:
        name = (
            f"bulk: POST /v1/transfers/batch, {bulk['items']} items, "
            f"{bulk['clients']} clients ({options.load})"
        )
        if bulk["missing"]:
            lines.append(f"| {name} | endpoint missing | | the daemon answered 404/405 |")
        else:
            lines.append(
                _row(
                    name,
                    bulk,
                    f"per batch p50 {bulk['p50_ms']:,.0f} ms, p99 {bulk['p99_ms']:,.0f} ms; "
                    f"{bulk['vs_raw_batch']:.3f}x raw-batch; server CPU "
                    f"{bulk['server_cpu_ms_per_transfer']:.2f} ms/transfer; load generator CPU "
                    f"{100 * bulk['loadgen_cpu_share']:.1f}% of the server's",
                )
            )
    lite = summary.get("sqlite")
    if lite:
        raw, api = lite["raw"], lite["api"]
        lines.append(
            _row(
                "raw sqlite3: 1 per commit, one process, the daemon's PRAGMAs",
                raw,
                f"mean latency {raw['latency_ms']:.2f} ms per commit; "
                + ", ".join(f"{k}={v}" for k, v in lite["pragmas"].items()),
            )
        )
        lines.append(
            _row(
                f"SQLite embedded: POST /v1/transfers, {api['connections']} connections ({options.load})",
                api,
                f"p50 {api['p50_ms']:,.0f} ms, p99 {api['p99_ms']:,.0f} ms; "
                f"{lite['vs_raw']:.3f}x raw sqlite3; "
                f"server CPU {api['server_cpu_ms_per_transfer']:.1f} ms/transfer; load generator CPU "
                f"{100 * api['loadgen_cpu_share']:.1f}% of the server's; daemon peak RSS "
                f"{lite['daemon_peak_rss_mib']:,.0f} MiB",
            )
        )
    return lines


def target_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of issue 8's targets: the measured ratio, the target, and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, target: float, *, at_most: bool = False) -> None:
        met = None if value is None else (value <= target if at_most else value >= target)
        rows.append(
            {"target": name, "value": value, "goal": f"{'<=' if at_most else '>='} {target:g}", "met": met}
        )

    for label, stats in summary["product"].items():
        add(f"single-transfer API / raw-1, {label[1:]} connections", stats["vs_raw_1"], TARGETS["single"])
    bulk = summary.get("bulk")
    if bulk:
        add("bulk API / raw-batch", None if bulk["missing"] else bulk["vs_raw_batch"], TARGETS["bulk"])
    hot = summary.get("hot")
    if hot:
        add(f"hot wallet / uniform, {hot['connections']} connections", hot["vs_uniform"], TARGETS["hot"])
    half = summary.get("half-load")
    if half:
        add(
            "p99 at half load / raw-1 mean latency",
            half["p99_vs_raw_1_mean_latency"],
            TARGETS["half_p99"],
            at_most=True,
        )
    lite = summary.get("sqlite")
    if lite:
        add("SQLite embedded API / raw sqlite3", lite["vs_raw"], TARGETS["sqlite"])
    shares = [stats["loadgen_cpu_share"] for stats in summary["product"].values()]
    shares += [leg["loadgen_cpu_share"] for leg in (hot, lite and lite["api"]) if leg]
    if bulk and not bulk["missing"]:
        shares.append(bulk["loadgen_cpu_share"])
    shares += [leg["loadgen_cpu_share"] for leg in summary.get("movements", {}).values()]
    add(
        "load generator CPU / server CPU (worst closed loop)",
        max(shares),
        TARGETS["loadgen_cpu_share"],
        at_most=True,
    )
    return rows


def targets_table(summary: dict[str, Any]) -> str:
    lines = ["| target (issue 8) | measured | goal | met |", "| --- | --- | --- | --- |"]
    for row in summary["targets"]:
        value = "endpoint missing" if row["value"] is None else f"{row['value']:.3f}"
        met = "n/a" if row["met"] is None else ("yes" if row["met"] else "no")
        lines.append(f"| {row['target']} | {value} | {row['goal']} | {met} |")
    peak = summary["daemon_peak_rss_mib"]
    lite = summary.get("sqlite") or {}
    batch_max = summary.get("transfer_batch_max", {})
    lines.append(
        f"| daemon peak RSS | {peak:,.0f} MiB (Postgres), {lite.get('daemon_peak_rss_mib', 0):,.0f} MiB "
        f"(SQLite) | stated, bounded by transfer_batch_max = {batch_max.get('postgres', '?')} | stated |"
    )
    return "\n".join(lines)
