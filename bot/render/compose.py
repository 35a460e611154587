"""How Slack tells each notice: the calls it takes (post, edit, thread reply, chart upload),
rendered when it is sent and made legal by `fit`, the one chokepoint for Slack's limits.

An alert's first post opens its thread; later notices of the alert edit that post and
answer in its thread. An escalation to critical is broadcast from the thread to the channel:
an edit alone notifies nobody.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bot.analysis import Thresholds
from bot.digest import Digest
from bot.kills import ProcessOomAlert
from bot.model import Verdict
from bot.notices import (
    AlertEscalated,
    AlertFired,
    AlertReminder,
    AlertResolved,
    AlertStale,
    ChannelUnreachable,
    Collapsed,
    DigestReady,
    Evicted,
    Kills,
    MonitoringDegraded,
    MonitoringRecovered,
    Notice,
    ProcessOom,
    Rendered,
    Storm,
)
from bot.oom import kill_times
from bot.render.digest import DigestRenderer
from bot.render.memory_events import evicted_message, process_oom_message
from bot.render.messages import STORM_SHOWN, Renderer
from bot.render.slack import Message, fit, plain
from bot.settings import Settings
from bot.state.document import ChartRequest
from bot.units import format_duration

Action = Literal["post", "update", "reply", "upload"]
# A kill's chart shows this much before the first kill.
KILL_CHART_SECONDS = 3600


@dataclass(frozen=True)
class SlackCall:
    """One Web API call of a notice. `broadcast`: a thread reply also shown in the channel."""

    action: Action
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    chart: ChartRequest | None = None
    broadcast: bool = False


class SlackComposer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.render = Renderer(settings)
        self.digests = DigestRenderer(settings)
        self.base = Thresholds.from_settings(settings)

    def calls(self, notice: Notice, channel: str) -> list[SlackCall]:
        r = self.render
        if isinstance(notice, AlertFired) and notice.joined:
            return self._say("reply", r.storm_note(notice, notice.seen.assessment(self.base)))
        if isinstance(notice, AlertFired):
            a = notice.seen.assessment(self.base)
            told = r.memory_alert(
                a, notice.severity, others=notice.others, replicas=notice.replicas
            )
            return self._say("post", told) + self._alert_chart(notice)
        if isinstance(notice, AlertEscalated | AlertReminder | AlertResolved) and notice.in_storm:
            return self._say("reply", r.storm_note(notice, notice.seen.assessment(self.base)))
        if isinstance(notice, AlertStale) and notice.in_storm:
            return self._say("reply", r.storm_note(notice, None))
        if isinstance(notice, Storm):
            calls = self._say("post", r.storm(notice))
            if len(notice.alerts) > STORM_SHOWN:
                calls += self._say("reply", r.storm_list(notice))
            return calls
        if isinstance(notice, AlertEscalated):
            a = notice.seen.assessment(self.base)
            edit = self._say("update", r.memory_alert(a, "critical", notice.silence))
            if notice.silence is not None:
                return edit
            return edit + self._say("reply", r.escalated(a, notice.seen.at), broadcast=True)
        if isinstance(notice, AlertReminder):
            a = notice.seen.assessment(self.base)
            reminder = r.reminder(a, notice.severity, notice.fired_at, notice.seen.at)
            return self._say("reply", reminder)
        if isinstance(notice, AlertResolved):
            a, at, killed_at = notice.seen.assessment(self.base), notice.seen.at, notice.killed_at
            return self._say("update", r.resolved(notice.severity, a, killed_at)) + self._say(
                "reply", r.resolved_reply(notice.fired_at, a, at, killed_at)
            )
        if isinstance(notice, AlertStale):
            return self._say("update", r.stale(notice.alert, notice.at))
        if isinstance(notice, Kills):
            if notice.follow_up:  # a crash loop: more kills in the first message's thread
                return self._say("reply", r.oom(notice.kills))
            return self._say("post", r.oom(notice.kills)) + _chart(_kill_chart(notice))
        if isinstance(notice, Evicted):
            return self._say("post", evicted_message(notice))
        if isinstance(notice, ProcessOom):
            alert = ProcessOomAlert(notice.seen.assessment(self.base), notice.events)
            return self._say("post", process_oom_message(alert))
        if isinstance(notice, MonitoringDegraded):
            return self._say("post", r.degraded(notice.error))
        if isinstance(notice, MonitoringRecovered):
            return self._say("post", r.recovered(notice.since, notice.at))
        if isinstance(notice, DigestReady):
            return self._digest(notice, channel)
        if isinstance(notice, Collapsed):
            return self._say("post", _collapsed(notice))
        if isinstance(notice, ChannelUnreachable):
            return self._say("post", _unreachable(notice))
        if isinstance(notice, Rendered):
            return [SlackCall(notice.action, notice.text, notice.blocks, notice.chart)]
        raise TypeError(f"no Slack form for notice {type(notice).__name__}")

    def _digest(self, notice: DigestReady, channel: str) -> list[SlackCall]:
        digest = Digest(
            channel=channel,
            evaluated_at=datetime.fromtimestamp(notice.at, tz=UTC),
            assessments=tuple(seen.assessment(self.base) for seen in notice.shown),
            kills=tuple(notice.kills),
            findings=tuple(notice.findings),
            rightsizing_error=notice.rightsizing_error,
            previous=notice.previous,
            counts=Counter({Verdict(k): n for k, n in notice.counts.items()}),
            floor=self.settings.digest_floor_ratio,
            containers=notice.containers,
            more=dict(notice.more),
        )
        calls = self._say("post", self.digests.message(digest))
        details = self.digests.details(digest)
        if details is not None:
            calls += self._say("reply", details)
        if notice.bars:
            calls += _chart(ChartRequest(bars=notice.bars))
        return calls

    def _alert_chart(self, notice: AlertFired) -> list[SlackCall]:
        m, at = notice.seen.memory, notice.seen.at
        return _chart(
            ChartRequest(
                cluster=m.ref.cluster,
                namespace=m.ref.namespace,
                pod=m.ref.pod,
                container=m.ref.container,
                start=at - self.settings.report_range_seconds,
                end=at,
                limit_bytes=m.limit_bytes,
                request_bytes=m.request_bytes,
                find_kills=notice.seen.oom_kills > 0,
            )
        )

    @staticmethod
    def _say(action: Action, message: Message, *, broadcast: bool = False) -> list[SlackCall]:
        """The message as Slack can take it: parts that do not fit follow in the thread."""
        return [
            SlackCall(
                action if index == 0 else "reply",
                part.text,
                part.blocks or None,
                broadcast=broadcast and index == 0,
            )
            for index, part in enumerate(fit(message))
        ]


def _chart(chart: ChartRequest | None) -> list[SlackCall]:
    return [] if chart is None else [SlackCall("upload", "memory chart", chart=chart)]


def _kill_chart(notice: Kills) -> ChartRequest | None:
    """The first killed container's memory up to the check, all its kills marked: those
    without an exact time too, so the chart counts what the message counts."""
    if not notice.kills:
        return None
    first = notice.kills[0]
    ref = first.kill.ref
    exact, approximate = kill_times((k.kill for k in notice.kills), ref, seen_at=notice.at)
    return ChartRequest(
        cluster=ref.cluster,
        namespace=ref.namespace,
        pod=ref.pod,
        container=ref.container,
        start=min([*exact, *approximate], default=notice.at) - KILL_CHART_SECONDS,
        end=notice.at,
        kills=exact,
        approximate_kills=approximate,
        limit_bytes=first.context.limit_bytes,
        request_bytes=first.context.request_bytes,
    )


def _unreachable(notice: ChannelUnreachable) -> Message:
    channel = notice.channel
    named = f"<#{channel}>" if channel[:1] in "CG" and channel.isalnum() else channel
    return plain(
        f":construction: *podmem cannot post to {named}* (Slack says `{notice.error}`): its "
        f"notices wait there and nothing is lost. Invite me to {named} (`/invite @podmem` "
        "in that channel), or fix the channel in podmem's routes; what waits is delivered "
        "at the next check after that."
    )


def _collapsed(notice: Collapsed) -> Message:
    kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(notice.kinds.items()))
    return plain(
        f":construction: *{notice.count} notices could not be delivered* over "
        f"{format_duration(notice.last_at - notice.first_at)} and were summarised to keep "
        f"podmem's state small: {kinds}. Run `/podmem top` for the current picture."
    )
