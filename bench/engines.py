"""A second engine (issue 15, item 5): the bot's cycle, floor and digest against
VictoriaMetrics holding the same generated data, and where its answers to the bot's own
queries differ from Prometheus's."""

from __future__ import annotations

import math
import shutil
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bench.baselines import ratio_to_own_floor
from bench.bot_process import DIGEST_REPEATS, run_worker
from bench.cluster import mirror_pods
from bot.scenarios import ClusterSpec
from tests.k8s_standin import KubeStandIn
from tests.slack_standin import SlackStandIn
from tests.victoria_harness import VictoriaMetricsServer

Answer = dict[tuple[tuple[str, str], ...], list[float]]


def answer(url: str, query: str, at: datetime, window: tuple[float, float, float] | None) -> Answer:
    """Series (labels without __name__) -> values, of one instant or range query."""
    if window is None:
        path, params = "query", {"query": query, "time": f"{at.timestamp():.3f}"}
    else:
        start, end, step = window
        path = "query_range"
        params = {
            "query": query,
            "start": f"{start:.0f}",
            "end": f"{end:.0f}",
            "step": f"{step:.0f}s",
        }
    body = requests.post(f"{url}/api/v1/{path}", data=params, timeout=300).json()
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body.get('error')}: {query[:200]}")
    out: Answer = {}
    for series in body["data"]["result"]:
        labels = tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__"))
        points = [series["value"]] if "value" in series else series["values"]
        out[labels] = [float(v) for _, v in points]
    return out


def differences(
    prometheus: str, victoria: str, at: datetime, rounds: list[list[str]], ranges: list[list[Any]]
) -> list[dict[str, Any]]:
    """Every query of a cycle whose answers differ (series missing on one side, values apart
    by more than 1e-6 relative, or a different number of points)."""
    found = []
    queries: list[tuple[str, tuple[float, float, float] | None]] = [
        (q, None) for r in rounds for q in r
    ]
    queries += [(q, (start, end, step)) for q, start, end, step in ranges]
    for query, window in queries:
        a, b = answer(prometheus, query, at, window), answer(victoria, query, at, window)
        only_a, only_b = a.keys() - b.keys(), b.keys() - a.keys()
        apart = [
            k
            for k in a.keys() & b.keys()
            if len(a[k]) != len(b[k])
            or any(
                not math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)
                for x, y in zip(a[k], b[k], strict=True)
            )
        ]
        if only_a or only_b or apart:
            found.append(
                {
                    "query": query,
                    "range": window is not None,
                    "series": [len(a), len(b)],
                    "only_prometheus": [dict(k) for k in sorted(only_a)[:3]],
                    "only_victoriametrics": [dict(k) for k in sorted(only_b)[:3]],
                    "values_apart": [
                        {"labels": dict(k), "prometheus": a[k][:5], "victoriametrics": b[k][:5]}
                        for k in apart[:3]
                    ],
                    "values_apart_count": len(apart),
                }
            )
    return found


def measure_victoria(
    spec: ClusterSpec,
    openmetrics: Path,
    times: list[datetime],
    *,
    work: Path,
    compare_with: str | None = None,
) -> dict[str, Any]:
    """The same cycles, floor and digest as bench/run.py's, against VictoriaMetrics."""
    victoria = VictoriaMetricsServer(None, work / "vm", openmetrics=openmetrics)
    try:
        settle_s = victoria.settle()
        with KubeStandIn() as kube, SlackStandIn() as slack:
            mirror_pods(kube, spec, times[0])
            config = {
                "prometheus_url": victoria.url,
                "slack_api_url": slack.api_url,
                "state_path": str(work / "state-vm.db"),
                "cycle_times": [t.isoformat() for t in times],
                "digest_time": times[-1].isoformat(),
                "digest_repeats": DIGEST_REPEATS,
                "floors": True,
            }
            worker = run_worker(config, kube_url=kube.url, work=work)
        rounds, ranges = worker["queries_of_last_cycle"], worker["ranges_of_last_cycle"]
        apart = (
            differences(compare_with, victoria.url, times[-1], rounds, ranges)
            if compare_with
            else []
        )
    finally:
        victoria.stop()
        shutil.rmtree(work / "vm", ignore_errors=True)
    cycles = worker["cycles"]  # each followed by its own floor, as in bench/run.py
    cycle_s, floor_s = (
        statistics.median(c["wall_s"] for c in cycles),
        statistics.median(c["floor_s"] for c in cycles),
    )
    return {
        "containers": len(spec.pods),
        "import_s": round(victoria.import_s, 1),
        "settle_s": round(settle_s, 1),
        "cycle_s": round(cycle_s, 3),
        "floor_s": round(floor_s, 3),
        "ratio_to_floor": round(ratio_to_own_floor(cycles), 3),
        "digest_s": round(worker["digest"]["wall_s"], 3),
        "bot_cpu_s": round(statistics.median(c["cpu_s"] for c in cycles), 3),
        "containers_checked": cycles[-1]["containers"],
        "peak_rss_mb": round(worker["peak_rss_mb"], 1),
        "warm_cycle_posts": worker["warm"]["sent"],
        # The last cycle's queries whose answers differ from Prometheus's (same data, instant).
        "differences": apart,
    }
