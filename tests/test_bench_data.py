"""`python -m bench --data DIR`: backfilled blocks kept and served again, never stale ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import requests

from bench.cluster import START, DataDir, make_spec
from tests.prometheus_harness import PrometheusServer


def test_kept_data_is_reused_only_when_what_generated_it_is_the_same(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    first = DataDir.of("prom-10", work=tmp_path, keep_in=keep, containers=10, history=40)
    assert first.kept and not first.reusable  # nothing made yet
    (first.path / "tsdb").mkdir()
    first.done()
    again = DataDir.of("prom-10", work=tmp_path, keep_in=keep, containers=10, history=40)
    assert again.reusable and (again.path / "tsdb").is_dir()
    other = DataDir.of("prom-10", work=tmp_path, keep_in=keep, containers=10, history=60)
    assert not other.reusable and not (other.path / "tsdb").exists()  # wiped, made anew


def test_an_interrupted_backfill_is_not_reused(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    broken = DataDir.of("prom-10", work=tmp_path, keep_in=keep, containers=10)
    (broken.path / "tsdb").mkdir()  # the run died here, before done()
    assert not DataDir.of("prom-10", work=tmp_path, keep_in=keep, containers=10).reusable


def test_without_data_the_run_cleans_up(tmp_path: Path) -> None:
    data = DataDir.of("prom-10", work=tmp_path, keep_in=None, containers=10)
    data.path.mkdir()
    assert not data.reusable
    data.done()
    data.release()
    assert not data.path.exists()


def test_a_server_reusing_blocks_serves_them_without_backfilling(tmp_path: Path) -> None:
    spec = make_spec(20, history_minutes=10, scrape_seconds=60)
    at = START.timestamp() + 8 * 60
    query = 'count(max by (pod) (container_memory_working_set_bytes{container!=""}))'
    first = PrometheusServer(spec, tmp_path / "prom")
    try:
        made = requests.get(f"{first.url}/api/v1/query", params={"query": query, "time": at})
    finally:
        first.stop()
    # No pods to generate: whatever answers comes from the blocks the first server left.
    second = PrometheusServer(replace(spec, pods=()), tmp_path / "prom", reuse=True)
    try:
        served = requests.get(f"{second.url}/api/v1/query", params={"query": query, "time": at})
    finally:
        second.stop()
    assert served.json()["data"]["result"] == made.json()["data"]["result"]
    assert made.json()["data"]["result"][0]["value"][1] == "20"
