"""The digest asks Prometheus for what it shows and counts the rest there: the digests are
those of judging every container, and what the bot fetches follows what it shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import pytest

from bot.cycle import digest_notice
from bot.digest import DAY, DIGEST_ROWS, Digest, build, digest_ask, gather
from bot.promql import CLUSTER_WIDE
from bot.render.compose import SlackComposer
from bot.scenarios import ClusterSpec
from bot.scenarios.behaviours import MIB
from bot.scenarios.cluster import named_pod
from bot.settings import Settings, load_settings
from bot.sources.prometheus import PrometheusSource
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import PrometheusServer

ROUTES: list[dict[str, Any]] = [
    {"namespaces": ["team-0"], "channel": "#zero", "continue": True},
    {"namespaces": ["team-*"], "channel": "#teams"},
]


def settings_for(url: str, **extra: Any) -> Settings:
    return load_settings(
        prometheus_url=url, kubernetes="off", slack_channel="#all", **({"routes": ROUTES} | extra)
    )


def digests(source: PrometheusSource, at: datetime, *, everyone: bool) -> list[Digest]:
    s = source.settings
    gathered = gather(source=source, kubernetes=None, settings=s, at=at, everyone=everyone)
    return build(gathered, settings=s, at=at, previous={})


def posted(digest: Digest, settings: Settings) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """What a channel receives: the notice (its shown containers by name and verdict: a
    candidate's breakdown has figures a cluster-wide snapshot leaves out) and its Slack calls."""
    notice = digest_notice(digest, settings=settings, at=digest.evaluated_at.timestamp())
    shown = [
        (o.memory.ref, o.assessment(SlackComposer(settings).base).verdict) for o in notice.shown
    ]
    return (
        notice.model_dump(exclude={"shown"}),
        shown,
        SlackComposer(settings).calls(notice, digest.channel),
    )


@pytest.mark.parametrize("routed", [True, False], ids=["routes", "one-channel"])
def test_the_digest_of_what_it_shows_is_the_digest_of_everyone(
    prometheus_for: PrometheusFactory, routed: bool
) -> None:
    # A low floor puts most containers on the top list: each namespace's outgrows its rows.
    url = prometheus_for(d.DIGEST_MANY).url
    settings = settings_for(url, digest_floor_ratio=0.1, routes=ROUTES if routed else [])
    source = PrometheusSource(settings)
    at = d.minutes(d.DIGEST_MANY, 35)
    shown, full = digests(source, at, everyone=False), digests(source, at, everyone=True)
    channels = ["#all", "#teams", "#zero"] if routed else ["#all"]
    assert [x.channel for x in shown] == [x.channel for x in full] == channels
    for new, old in zip(shown, full, strict=True):
        assert new.counts == old.counts and new.containers == old.containers
        assert new.kills == old.kills
        assert new.findings == old.findings
        assert new.left_out(DIGEST_ROWS) == old.left_out(DIGEST_ROWS)
        assert new.summary() == old.summary()
        assert posted(new, settings) == posted(old, settings)
    many = 1 if routed else 0  # "#teams", or the one channel: every container
    teams = full[many]
    # The case is not trivial: lists longer than a digest shows, findings of both kinds, kills.
    assert teams.containers == 1000 and len(shown[many].assessments) < 300
    assert set(teams.left_out(DIGEST_ROWS)) == {"top", "no_limit"}
    assert {f.kind for f in teams.findings} == {"over_provisioned_request", "limit_below_peak"}
    assert teams.kills and shown[-1].containers <= teams.containers
    # Replicas right-sizing reads without the digest naming them: request, limit, owner only.
    sizing = gather(source=source, kubernetes=None, settings=settings, at=at).sizing
    assert sizing and all(m.working_set_bytes is None for m in sizing)


def test_what_the_digest_fetches_does_not_grow_with_the_quiet_containers(
    prometheus_for: PrometheusFactory,
) -> None:
    """900 quiet containers more: the same queries and rows; judging everyone, 10x the rows."""
    fetched: dict[str, tuple[int, int]] = {}
    everyone: dict[str, int] = {}
    for name, fleet in (("few", d.DIGEST_FEW), ("many", d.DIGEST_MANY)):
        server = prometheus_for(fleet)
        source = PrometheusSource(settings_for(server.url))
        at = d.minutes(fleet, 35)
        rows, queries = source.rows_received, server.query_requests_served()
        digests(source, at, everyone=False)
        fetched[name] = (source.rows_received - rows, server.query_requests_served() - queries)
        rows = source.rows_received
        digests(source, at, everyone=True)
        everyone[name] = source.rows_received - rows
    assert fetched["many"] == fetched["few"]
    assert everyone["many"] > 5 * everyone["few"]
    assert fetched["many"][0] < everyone["many"] / 5


# --- right-sizing's question, asked where the data is ------------------------------------

SIZING_START = datetime(2026, 11, 2, tzinfo=UTC)


def _two_lives(out: TextIO) -> None:
    """One container that restarted: a first life of 20 minutes at 600 MiB, then a day at
    100 MiB. cAdvisor names each life's cgroup by its container ID: two series."""
    labels = 'container="app",namespace="shop",pod="cart-0",job="kubelet",image="app:1"'
    start = SIZING_START.timestamp()
    for life, (begin, end, value) in enumerate(((0, 20, 600), (21, 24 * 60 + 21, 100))):
        series = f'container_memory_working_set_bytes{{{labels},id="/kubepods/pod1/c{life}"}}'
        for minute in range(begin, end):
            out.write(f"{series} {value * MIB} {start + minute * 60:.0f}\n")
    out.write("# EOF\n")


def test_a_restarted_containers_p95_is_the_highest_of_its_lives(tmp_path: Path) -> None:
    """The p95 is taken of each series, then the highest per container (grouping inside the
    subquery cost every one of its steps a pass over every container). A life too short to
    move the p95 of both together still counts in full: a request sized by it keeps memory
    the container needed, rather than taking it away."""
    server = PrometheusServer(_two_lives, tmp_path)
    try:
        source = PrometheusSource(load_settings(prometheus_url=server.url, kubernetes="off"))
        at = SIZING_START + timedelta(hours=24, minutes=20)
        profiles = source.profiles(at, CLUSTER_WIDE, window_seconds=7 * DAY, step_seconds=900)
        (profile,) = profiles.values()
        assert profile.peak_bytes == 600 * MIB
        assert profile.p95_bytes == 600 * MIB  # both lives as one: 100 MiB
    finally:
        server.stop()


SIZING = ClusterSpec(
    pods=(
        # Bare pods, each its own workload: one asks for 2 GiB and uses 200 MiB.
        replace(
            named_pod("over-provisioned", "apps", "debug-shell"),
            workload_kind="<none>",
            workload_name="<none>",
        ),
        replace(
            named_pod("steady", "apps", "toolbox"), workload_kind="<none>", workload_name="<none>"
        ),
        # A Deployment: one replica's finding sizes both.
        replace(named_pod("over-provisioned", "apps", "api-0"), workload_name="api"),
        replace(named_pod("steady", "apps", "api-1"), workload_name="api"),
        replace(named_pod("steady", "apps", "web-0"), workload_name="web"),
    ),
    start=SIZING_START,
    duration=timedelta(minutes=40),
)


def test_right_sizing_asks_for_whole_workloads_and_bare_pods_alone(
    prometheus_for: PrometheusFactory,
) -> None:
    """The pods right-sizing may have a finding for: every replica of a workload one of
    whose containers fires, and a pod without an owner as a workload of its own (not every
    bare pod of its namespace, as kube-state-metrics' "<none>" owner would group them)."""
    source = PrometheusSource(settings_for(prometheus_for(SIZING).url, routes=[]))
    answer = source.digest_snapshot(d.minutes(SIZING, 35), digest_ask(source.settings))
    assert answer.profiles is not None
    assert {ref.pod for ref in answer.profiles} == {"debug-shell", "api-0", "api-1"}
    # Every pod has an owner row from kube-state-metrics: cAdvisor is not asked for pods.
    asked = " ".join(query for round_ in source.last_rounds for query in round_)
    assert (
        'container_memory_working_set_bytes{container!="", container!="POD", cluster!~""}' in asked
    )
