"""`podmem demo`: the real pipeline over simulated workloads, no cluster needed.

The same analysis, check and rendering code as against Prometheus; only the source differs
(SimulatedSource implements the same interface as PrometheusSource).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.check import run_check
from bot.render.text import render_check, render_report
from bot.report import build_report
from bot.scenarios import ClusterSpec, named_pod
from bot.settings import load_settings
from bot.sources.simulated import SimulatedSource
from bot.targets import Target

DEMO_START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def demo_cluster() -> ClusterSpec:
    return ClusterSpec(
        pods=(
            named_pod("leak", "shop", "checkout-7d9f-x2k4p"),
            named_pod("leak-file-cache", "shop", "ingest-5c4b-q1w9z"),
            named_pod("steady", "shop", "frontend-6b8c-m2n7v"),
            named_pod("no-limit", "batch", "reporter-84d2-t5k8s"),
            named_pod("over-provisioned", "data", "search-9f1e-p3r6d"),
            named_pod("crashloop-oom", "batch", "resizer-3a7b-z8x2c", started_after=3 * 3600),
        ),
        start=DEMO_START,
        duration=timedelta(hours=4),
    )


def run_demo(*, output_dir: Path) -> int:
    cluster = demo_cluster()
    settings = load_settings()
    source = SimulatedSource(cluster, settings)
    moments = [
        (130, "2 h 10 min in: the file writer has pinned ingest's usage at its limit"),
        (200, "3 h 20 min in: checkout's leak is close to the limit"),
    ]
    for minutes, caption in moments:
        at = cluster.at(minutes * 60)
        print(f"\n=== {caption} ===\n")
        print(render_check(run_check(source=source, settings=settings, at=at)))
    at = cluster.at(130 * 60)
    print("\n=== the report that explains it: podmem report shop/ingest ===\n")
    report = build_report(
        Target(pod="ingest", namespace="shop"), source=source, settings=settings, at=at
    )
    print(render_report(report))
    return 0
