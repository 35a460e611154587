"""The two comparisons, in the same run: the floor (the same PromQL, a bare client, no
processing) and the naive pattern (one query per pod per figure, as per-object tools do)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect

from bot.promql import CADVISOR_FIGURES, QueryBuilder, Scope
from bot.scenarios import ClusterSpec
from bot.sources.prometheus import PARALLEL_QUERIES


def floor_seconds(
    url: str, at: datetime, rounds: list[list[str]], ranges: list[list[Any]]
) -> float:
    """The bot's own queries of one cycle, sent its way (POST, 4 at a time, round after
    round, then its range queries), by a bare HTTP client that does not parse the answers."""
    session = requests.Session()

    def fetch(query: str) -> int:
        response = session.post(
            f"{url}/api/v1/query",
            params={"query": query, "time": f"{at.timestamp():.3f}"},
            timeout=120,
            stream=True,
        )
        return _drained(response)

    started = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
        for queries in rounds:
            list(pool.map(fetch, queries))
    for query, start, end, step in ranges:
        range_answer = session.post(
            f"{url}/api/v1/query_range",
            params={
                "query": query,
                "start": round(start),
                "end": round(end),
                "step": f"{step:.0f}s",
            },
            timeout=120,
            stream=True,
        )
        _drained(range_answer)
    return time.perf_counter() - started


def _drained(response: requests.Response) -> int:
    """The answer read to its end a piece at a time, its bytes counted: a bounded buffer,
    whatever the answer's size."""
    with response:
        return sum(len(piece) for piece in response.iter_content(256 * 1024))


def ratio_to_own_floor(timed: list[dict[str, Any]]) -> float:
    """The median of each timed run's wall to the floor measured right after it."""
    return statistics.median(t["wall_s"] / t["floor_s"] for t in timed)


def all_at_once_seconds(
    url: str, at: datetime, rounds: list[list[str]], ranges: list[list[Any]]
) -> float:
    """The digest's floor: every query it sent (instant and range), by a bare client, 4 at a
    time with no round waiting for another: what Prometheus needs to answer them all."""
    session = requests.Session()

    def send(query: str, range_: list[Any] | None) -> None:
        if range_ is None:
            form = {"query": query, "time": f"{at.timestamp():.3f}"}
            _drained(session.post(f"{url}/api/v1/query", data=form, timeout=300, stream=True))
            return
        start, end, step = range_
        form = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"}
        _drained(session.post(f"{url}/api/v1/query_range", data=form, timeout=300, stream=True))

    work = [(q, None) for queries in rounds for q in queries]
    work += [(query, [start, end, step]) for query, start, end, step in ranges]
    started = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
        list(pool.map(lambda item: send(*item), work))
    return time.perf_counter() - started


def naive_seconds(url: str, spec: ClusterSpec, at: datetime) -> tuple[float, int]:
    """Per pod, per figure (working set, usage, RSS, cache, limit), one query each, in turn,
    through prometheus-api-client as a per-object script would: the pattern podmem avoids."""
    builder = QueryBuilder()
    client = PrometheusConnect(url=url, disable_ssl=True)
    params = {"time": f"{at.timestamp():.3f}"}
    figures = [CADVISOR_FIGURES[f] for f in ("working_set", "usage", "rss", "cache")]
    queries = 0
    started = time.perf_counter()
    for pod in spec.pods:
        scope = Scope(namespace=pod.namespace, pod=pod.name)
        for query in (*(builder.figure(m, scope) for m in figures), builder.limits(scope)):
            client.custom_query(query, params=params)
            queries += 1
    return time.perf_counter() - started, queries
