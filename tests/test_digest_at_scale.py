"""The digest asks Prometheus for what it shows and counts the rest there: the digests are
those of judging every container, and what the bot fetches follows what it shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bot.cycle import digest_notice
from bot.digest import DIGEST_ROWS, Digest, build, gather
from bot.render.compose import SlackComposer
from bot.settings import Settings, load_settings
from bot.sources.prometheus import PrometheusSource
from tests import datasets as d
from tests.conftest import PrometheusFactory

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
