"""deploy/grafana/podmem.json: generated (no drift), reached by podmem's alert links, and its
queries, run on a real Prometheus, show the numbers podmem's verdicts are made of."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from bot.analysis import Thresholds, assess
from bot.model import ContainerRef
from bot.promql import Scope
from bot.scenarios import ClusterSpec
from bot.settings import Settings, load_settings
from bot.sources.prometheus import PrometheusSource
from deploy.grafana import generate
from tests import datasets as d
from tests.conftest import PrometheusFactory

DASHBOARD: dict[str, Any] = json.loads(generate.OUTPUT.read_text(encoding="utf-8"))


def test_the_committed_dashboard_is_what_the_generator_writes() -> None:
    """If this fails: python -m deploy.grafana.generate --write"""
    assert generate.OUTPUT.read_text(encoding="utf-8") == generate.render()


def test_an_alerts_dashboard_link_sets_every_variable() -> None:
    described = Settings.model_fields["grafana_url_template"].description or ""
    template = re.search(r"https://\S+", described)
    assert template is not None
    settings = load_settings(grafana_url_template=template.group(0))
    assert settings.grafana_url_template is not None
    link = settings.grafana_url_template.format(
        cluster="east", namespace="shop", pod="api-7d9f-x2", container="app"
    )
    path, query = urlsplit(link).path, dict(parse_qsl(urlsplit(link).query))
    assert path.startswith(f"/d/{DASHBOARD['uid']}/")
    variables = {v["name"] for v in DASHBOARD["templating"]["list"]} - {"datasource"}
    assert {f"var-{name}" for name in variables} == set(query)
    assert query == {
        "var-cluster": "east",
        "var-namespace": "shop",
        "var-pod": "api-7d9f-x2",
        "var-container": "app",
    }


def expression(expr: str, ref: ContainerRef) -> str:
    """Grafana's part: the variables as podmem's link sets them (cluster "" when unnamed)."""
    for name in ("cluster", "namespace", "pod", "container"):
        expr = expr.replace(f"${name}", getattr(ref, name))
    assert "$" not in expr
    return expr


def instant(url: str, expr: str, at: datetime) -> list[dict[str, Any]]:
    answer = requests.post(
        f"{url}/api/v1/query", data={"query": expr, "time": at.timestamp()}, timeout=30
    )
    answer.raise_for_status()
    return answer.json()["data"]["result"]  # type: ignore[no-any-return]


def over_range(url: str, expr: str, start: datetime, end: datetime) -> list[float]:
    """Times with a point, as Grafana asks for an annotation (step 1m)."""
    answer = requests.post(
        f"{url}/api/v1/query_range",
        data={"query": expr, "start": start.timestamp(), "end": end.timestamp(), "step": 60},
        timeout=30,
    )
    answer.raise_for_status()
    return [float(t) for row in answer.json()["data"]["result"] for t, _ in row["values"]]


def panel(title: str) -> dict[str, Any]:
    return next(p for p in DASHBOARD["panels"] if p["title"].startswith(title))


@pytest.mark.parametrize("pod", [d.FILE_CACHE, d.LEAK, d.NO_LIMIT], ids=lambda p: p.name)
def test_every_panel_query_shows_podmems_figures(
    prometheus_for: PrometheusFactory, pod: Any
) -> None:
    url = prometheus_for(d.MAIN).url
    at = d.minutes(d.MAIN, 130)
    source = PrometheusSource(load_settings(prometheus_url=url, kubernetes="off"))
    snapshot = source.snapshot(at, Scope(namespace=pod.namespace, pod=pod.name))
    source.close()
    (memory,) = [m for m in snapshot.containers if m.ref.container == "app"]
    judged = assess(memory, Thresholds())
    expected = {
        "working set": memory.working_set_bytes,
        "RSS": memory.rss_bytes,
        "active cache": judged.active_cache_bytes,
        "reclaimable cache": judged.reclaimable_bytes,
        "usage": memory.usage_bytes,
        "limit": memory.limit_bytes,
        "request": memory.request_bytes,
    }
    seen: dict[str, float | None] = {}
    for target in panel("Memory")["targets"]:
        rows = instant(url, expression(target["expr"], memory.ref), at)
        assert len(rows) <= 1, target["legendFormat"]  # one container, never duplicates
        legend = target["legendFormat"].split(" (")[0]
        seen[legend] = float(rows[0]["value"][1]) if rows else None
        if legend == "limit" and rows:
            assert rows[0]["metric"]["podmem_source"] == memory.limit_source
    assert seen == pytest.approx(expected, abs=1.0)
    (ratio,) = panel("Working set / limit")["targets"]
    rows = instant(url, expression(ratio["expr"], memory.ref), at)
    found = float(rows[0]["value"][1]) if rows else None
    assert found == pytest.approx(judged.working_set_to_limit, abs=1e-6)


def annotation(name: str) -> str:
    return next(a["expr"] for a in DASHBOARD["annotations"]["list"] if a["name"] == name)


# kube-state-metrics v1 has no last-termination time: kills are seen at the restart.
JUDGEMENT_KSM_V1 = replace(d.JUDGEMENT, ksm="v1")


@pytest.mark.parametrize("cluster", [d.JUDGEMENT, JUDGEMENT_KSM_V1], ids=["ksm-v2", "ksm-v1"])
def test_oom_kills_are_marked_once_each_and_other_ends_not(
    prometheus_for: PrometheusFactory, cluster: ClusterSpec
) -> None:
    """The crash loop ends OOMKilled, OOMKilled, Error, ...: the sticky reason must neither
    hide a kill nor turn the Error end into one. Truth: the scenario's own kills."""
    url = prometheus_for(cluster).url
    start, end = cluster.start, cluster.start + cluster.duration
    (pod,) = [p for p in cluster.pods if p.name == "mixed-5a6b-d0e1f"]
    lived = (end - start).total_seconds() - pod.started_after
    kills = pod.containers[0].behaviour.state(lived).kills
    ref = ContainerRef("", pod.namespace, pod.name, "app")
    marks = over_range(url, expression(annotation("OOM kills"), ref), start, end)
    origin = start.timestamp() + pod.started_after
    ends = [origin + k.finished_at for k in kills] + [end.timestamp()]
    # Each end owns the time until the next (the restart can come minutes later, after the
    # crash-loop back-off): marked there if, and only if, it was an OOM kill. Judged for the
    # ends whose restart (back-off capped at 5 min) is inside the data: without
    # kube-state-metrics' termination time, the restart is when a kill shows.
    judged = [
        (kill, ended, following)
        for kill, (ended, following) in zip(kills, itertools.pairwise(ends), strict=True)
        if ended < end.timestamp() - 330
    ]
    assert {kill.reason for kill, _, _ in judged} == {"OOMKilled", "Error"}
    for kill, ended, following in judged:
        marked = [t for t in marks if ended <= t < following]
        assert bool(marked) == (kill.reason == "OOMKilled"), (kill.reason, kill.finished_at)
    assert all(t >= ends[0] for t in marks)  # none before the first end
    # The same container's process-kill annotation stays quiet: its kills took the container.
    assert over_range(url, expression(annotation("Process OOM kills"), ref), start, end) == []


def test_worker_oom_kills_are_marked_where_the_container_lived_on(
    prometheus_for: PrometheusFactory,
) -> None:
    url = prometheus_for(d.JUDGEMENT).url
    start, end = d.JUDGEMENT.start, d.JUDGEMENT_AT
    ref = ContainerRef("", "shop", "gunicorn-4f5a-c9d0e", "app")
    marks = over_range(url, expression(annotation("Process OOM kills"), ref), start, end)
    # Killed every 20 min: at 20 and 40 min (and 60, the range's end) the process marks show.
    minutes = sorted({round((t - start.timestamp()) / 60) // 20 for t in marks})
    assert minutes[:2] == [1, 2]
    assert over_range(url, expression(annotation("OOM kills"), ref), start, end) == []
