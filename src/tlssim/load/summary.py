"""A load run as figures: the JSON document, the final table and the live progress line."""

from __future__ import annotations

import time
from typing import Any

from tlssim.load.run import Failure, Plan, Tally

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9))


def elapsed_s(plan: Plan, tally: Tally, now: float | None = None) -> float:
    """How long the run took: to its last answer, and in rate mode at least to the end of its
    last request's slot (1/rate each), so a short count run does not look faster than offered."""
    end = tally.last_done_at or (now if now is not None else time.monotonic())
    wall = max(end - tally.started_at, 1e-9)
    if plan.rate is not None:
        wall = max(wall, tally.issued / plan.rate)
    return wall


def _failure_rows(tally: Tally) -> list[dict[str, Any]]:
    return [
        {"kind": f.kind, "description": f.description, "sent_by": f.sent_by, "count": n}
        for f, n in tally.failures.most_common()
    ]


def _replicas(tally: Tally) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (role, name), count in sorted(tally.replicas.items()):
        out.setdefault(role, {})[name] = count
    return out


def as_dict(plan: Plan, tally: Tally, target: str) -> dict[str, Any]:
    seconds = elapsed_s(plan, tally)
    h = tally.latency
    by_replica = {"replicas": _replicas(tally)} if tally.replicas else {}
    return {
        "target": target,
        "mode": "rate" if plan.rate is not None else "concurrency",
        "offered_rate": plan.rate,
        "achieved_rate": round(tally.completed / seconds, 3),
        "concurrency": plan.concurrency,
        "planned_duration_s": plan.duration_s,
        "planned_count": plan.count,
        "duration_s": round(seconds, 3),
        "issued": tally.issued,
        "unsent": tally.unsent,
        "completed": tally.completed,
        "succeeded": tally.succeeded,
        "failed": sum(tally.failures.values()),
        "interrupted": tally.interrupted,
        "errors": _failure_rows(tally),
        "latency_ms": {
            **{name: h.percentile_ms(p) for name, p in PERCENTILES},
            "max": h.max_us / 1000,
            "min": h.min_us / 1000,
            "mean": round(h.mean_ms, 3),
            "measured_from": "intended send time" if plan.rate is not None else "actual start",
        },
        **by_replica,
    }


def _failure_label(f: Failure) -> str:
    if f.kind == "alert":
        return f"alert {f.description} from {f.sent_by}"
    return f"{f.kind} {f.description}"


def table(summary: dict[str, Any], tally: Tally) -> str:
    lat = summary["latency_ms"]
    offered = summary["offered_rate"]
    rows = [
        ("target", summary["target"]),
        (
            "mode",
            f"rate {offered:g}/s (at most {summary['concurrency']} in flight)"
            if offered is not None
            else f"concurrency {summary['concurrency']}",
        ),
        ("duration", f"{summary['duration_s']:.2f} s" + (" (interrupted)" * tally.interrupted)),
        (
            "handshakes",
            f"{summary['completed']} ({summary['succeeded']} ok, {summary['failed']} failed)",
        ),
        ("achieved rate", f"{summary['achieved_rate']:.1f}/s"),
        *(
            [("unsent", f"{summary['unsent']} due but every in-flight slot was busy")]
            if summary["unsent"]
            else []
        ),
        (
            "latency ms",
            "  ".join(
                f"{k.replace('_', '.')} {lat[k]:.2f}" for k in ("p50", "p90", "p99", "p99_9", "max")
            ),
        ),
    ]
    for role, counts in summary.get("replicas", {}).items():
        rows.append((f"{role} replicas", ", ".join(f"{k} {n}" for k, n in counts.items())))
    rows += [(f"  {n:>6}", _failure_label(f)) for f, n in tally.failures.most_common()]
    return "\n".join(f"{k:<14} {v}" for k, v in rows)


def progress_line(tally: Tally) -> str:
    now = time.monotonic() - tally.started_at
    rate = tally.completed / now if now > 0 else 0.0
    errors = ", ".join(f"{_failure_label(f)} {n}" for f, n in tally.failures.most_common(3))
    h = tally.latency
    return (
        f"{now:6.1f} s  {tally.completed} done  {rate:7.1f}/s  "
        f"p50 {h.percentile_ms(50):.1f} ms  p99 {h.percentile_ms(99):.1f} ms"
        + (f"  errors: {errors}" if errors else "")
    )
