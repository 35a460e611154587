"""The two comparisons, in the same run: the floor (the same PromQL, a bare client, no
processing) and the naive pattern (one query per pod per figure, as per-object tools do)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import requests
from prometheus_api_client import PrometheusConnect

from bot.promql import CADVISOR_FIGURES, CLUSTER_WIDE, QueryBuilder, Scope
from bot.scenarios import ClusterSpec
from bot.settings import load_settings
from bot.sources.prometheus import PARALLEL_QUERIES, PrometheusSource


def floor_seconds(url: str, at: datetime) -> float:
    """The bot's own query plan, sent the bot's way (POST, 4 at a time), bodies not parsed."""
    plan = PrometheusSource(load_settings(prometheus_url=url)).plan(CLUSTER_WIDE)
    session = requests.Session()

    def fetch(query: str) -> int:
        response = session.post(
            f"{url}/api/v1/query",
            params={"query": query, "time": f"{at.timestamp():.3f}"},
            timeout=120,
        )
        return len(response.content)

    started = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
        list(pool.map(fetch, plan.values()))
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
