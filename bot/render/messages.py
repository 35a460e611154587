"""The Slack messages of the alert lifecycle: text that stands alone, blocks that explain.

`text` carries every figure (it is what phones and search show); the blocks lay the same out
for a reader in the channel: what, how bad, the breakdown, the bar, the trend, where, links,
and the buttons. One renderer per settings (time zone, links).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from bot.analysis import Assessment
from bot.model import ContainerRef, OomKill
from bot.notices import (
    AlertEscalated,
    AlertFired,
    AlertReminder,
    AlertResolved,
    AlertStale,
    KilledContainer,
    Notice,
    Storm,
    StormMember,
)
from bot.render.bars import memory_bar
from bot.render.headline import headline
from bot.render.slack import Message, buttons, context, fields, header, overflow, section
from bot.settings import Settings
from bot.silences import CONTAINER_SNOOZES
from bot.state.document import AlertRecord, Silence
from bot.units import format_bytes, format_duration, format_rate, format_ratio, quantity
from bot.workloads import set_resources_command

ICONS = {"warning": ":warning:", "critical": ":rotating_light:"}
HEADER_ICONS = {"warning": "⚠️", "critical": "🚨"}
SILENCE_MARK = "🔕"
# Alerts a storm message lists itself; the rest are in its thread.
STORM_SHOWN = 10


def where(ref: ContainerRef) -> str:
    prefix = f"{ref.cluster}:" if ref.cluster else ""
    return f"{prefix}{ref.namespace}/{ref.pod} · {ref.container}"


def mention(slack_id: str | None) -> str:
    """A Slack user (U…, W…) or user group (S…) as Slack notifies them."""
    if not slack_id:
        return ""
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


def owner(ref: ContainerRef, workload: str | None) -> str:
    """What an alert is about: the workload (its pods come and go), else the pod."""
    prefix = f"{ref.cluster}:" if ref.cluster else ""
    return f"{prefix}{ref.namespace}/{workload or ref.pod}"


def record_ref(record: AlertRecord) -> ContainerRef:
    return ContainerRef(record.cluster, record.namespace, record.pod, record.container)


def target_value(ref: ContainerRef, workload: str | None) -> dict[str, str]:
    """What a button needs to know about its container (sent back by Slack as JSON)."""
    return {
        "c": ref.cluster,
        "n": ref.namespace,
        "p": ref.pod,
        "k": ref.container,
        "w": workload or "",
    }


class Renderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)

    # --- pieces ---------------------------------------------------------------------------

    def clock(self, at: float) -> str:
        return datetime.fromtimestamp(at, tz=self.zone).strftime("%H:%M %Z")

    def kill_time(self, kill: OomKill) -> str:
        """When it was killed: "~12:40" when only a scrape saw it (as its chart marks it)."""
        if kill.finished_at is None:
            return "in the last minutes"
        return ("" if kill.time_exact else "~") + self.clock(kill.finished_at.timestamp())

    def links(self, ref: ContainerRef) -> str:
        s = self.settings
        parts = []
        if s.grafana_url_template:
            url = s.grafana_url_template.format(
                cluster=ref.cluster, namespace=ref.namespace, pod=ref.pod, container=ref.container
            )
            parts.append(f"<{url}|Dashboard>")
        if s.runbook_url:
            parts.append(f"<{s.runbook_url}|Runbook>")
        return " · ".join(parts)

    def breakdown_blocks(self, a: Assessment) -> list[Block]:
        m = a.memory
        pairs = [
            (
                "Working set",
                f"{format_bytes(m.working_set_bytes)} · "
                f"{format_ratio(a.working_set_to_limit)} of limit",
            ),
            ("Limit", format_bytes(m.limit_bytes) if m.limit_bytes else "none"),
            ("RSS", f"{format_bytes(m.rss_bytes)} · {format_ratio(a.rss_to_limit)}"),
            (
                "Request",
                f"{format_bytes(m.request_bytes)} · ws {format_ratio(a.working_set_to_request)}"
                if m.request_bytes
                else "none",
            ),
            ("Active cache", format_bytes(a.active_cache_bytes)),
            ("Reclaimable cache", format_bytes(a.reclaimable_bytes)),
            ("Usage", f"{format_bytes(m.usage_bytes)} · {format_ratio(a.usage_to_limit)}"),
            ("Swap", format_bytes(m.swap_bytes)),
            ("Trend", format_rate(m.growth_bytes_per_second)),
            ("Time to limit", format_duration(a.seconds_to_limit)),
        ]
        blocks: list[Block] = [fields(pairs)]
        bar = memory_bar(a, width=30)
        if bar:
            blocks.append(section(f"`{bar}`  █ RSS ▓ active cache ░ reclaimable · free"))
        return blocks

    def where_context(self, ref: ContainerRef, workload: str | None, node: str | None) -> Block:
        return context(
            " · ".join(
                x
                for x in (
                    workload,
                    node and f"node {node}",
                    ref.cluster and f"cluster {ref.cluster}",
                )
                if x
            ),
            self.links(ref),
        )

    def actions(self, ref: ContainerRef, workload: str | None, *, silenced: bool = False) -> Block:
        value = target_value(ref, workload)
        items: list[tuple[str, str, dict[str, str], str | None]]
        if silenced:
            items = [("Unmute", "podmem_unmute", value, None)]
        else:
            items = [
                ("Snooze 1 h", "podmem_snooze_1h", value, None),
                ("Snooze 24 h", "podmem_snooze_24h", value, None),
            ]
            if workload:
                items.append(("Mute workload", "podmem_mute_workload", value, "danger"))
        items.append(("Full report", "podmem_report", value, "primary"))
        days = self.settings.mute_seconds / 86400
        question = (
            f"Mute every memory alert of {workload} in {ref.namespace} for {days:g} days? "
            "Unmute from the alert, or with podmem silence."
        )
        # A snooze silences the workload, so a rollout keeps it; the pod's container alone is
        # there too, out of the way, for the one bad replica.
        alone = (
            overflow(
                "podmem_snooze_container",
                [
                    (f"Snooze only this pod's {ref.container[:30]}, {span}", {**value, "d": span})
                    for span in CONTAINER_SNOOZES
                ],
            )
            if workload and not silenced
            else None
        )
        return buttons(
            *items, confirm={"podmem_mute_workload": ("Mute workload?", question)}, more=alone
        )

    # --- the lifecycle's messages ---------------------------------------------------------

    def memory_alert(
        self,
        a: Assessment,
        severity: str,
        silence: Silence | None = None,
        *,
        others: Sequence[StormMember] = (),
        replicas: int = 1,
    ) -> Message:
        """Short, the important thing first: what (severity, workload, container), when and
        why in one line, five figures, which pod where. The whole breakdown, the reason in
        full and the 3 hours behind it are one tap away (Full report, the chart). With
        `others`, replicas that crossed together: `a` is the worst, the others are named."""
        ref, m = a.memory.ref, a.memory
        first = headline(a)
        title = f"{severity.upper()} · {owner(ref, m.workload)} · {ref.container}"
        crowd = (
            f"{len(others) + 1} of {max(replicas, len(others) + 1)} replicas; the worst: "
            if others
            else ""
        )
        # A critical alert calls its owner by name; a warning does not page anyone.
        call = f"{mention(m.owner_id)} " if severity == "critical" and m.owner_id else ""
        text = f"{ICONS.get(severity, '')} *{title}*\n{call}{crowd}{first}"
        blocks: list[Block] = [
            header(f"{HEADER_ICONS.get(severity, '')} {title}"),
            section(call + crowd + first),
            fields(self.key_figures(a)),
            context(
                " · ".join(
                    x
                    for x in (
                        f"pod {ref.pod}",
                        m.node and f"node {m.node}",
                        ref.cluster and f"cluster {ref.cluster}",
                    )
                    if x
                ),
                self.links(ref),
            ),
        ]
        if others:
            also = " · ".join(_storm_line(s, icon=False) for s in others[:STORM_SHOWN])
            more = f" and {len(others) - STORM_SHOWN} more" if len(others) > STORM_SHOWN else ""
            blocks.append(section(f"Also: {also}{more}"))
        if silence is not None:
            blocks.append(context(self.silenced_note(silence)))
        blocks.append(self.actions(ref, m.workload, silenced=silence is not None))
        return Message(text, tuple(blocks))

    @staticmethod
    def key_figures(a: Assessment) -> list[tuple[str, str]]:
        """Five figures: how full, of what, what cannot be freed, what can, where it goes."""
        m = a.memory
        limit = quantity(m.limit_bytes) if m.limit_bytes else "none"
        request = quantity(m.request_bytes) if m.request_bytes else "none"
        swap = f" + swap {format_bytes(m.swap_bytes)}" if m.swap_bytes else ""
        ttl = f" · limit in {format_duration(a.seconds_to_limit)}" if a.seconds_to_limit else ""
        full = f"{format_bytes(m.working_set_bytes)} · {format_ratio(a.working_set_to_limit)}"
        cache = f"active {format_bytes(a.active_cache_bytes)}"
        cache += f" · idle {format_bytes(a.reclaimable_bytes)}"
        return [
            ("Working set", full),
            ("Limit · request", f"{limit} · {request}"),
            ("RSS (not reclaimable)", f"{format_bytes(m.rss_bytes)}{swap}"),
            ("Page cache", cache),
            ("Trend", f"{format_rate(m.growth_bytes_per_second)}{ttl}"),
        ]

    def escalated(self, a: Assessment, at: float) -> Message:
        call = f"{mention(a.memory.owner_id)} " if a.memory.owner_id else ""
        return self._note(
            f"{call}Escalated to *CRITICAL* at {self.clock(at)}: working set "
            f"{format_ratio(a.working_set_to_limit)} of the limit."
        )

    def reminder(self, a: Assessment, severity: str, fired_at: float, at: float) -> Message:
        return self._note(
            f"Still {severity} after {format_duration(at - fired_at)}: working set "
            f"{format_bytes(a.memory.working_set_bytes)} = {format_ratio(a.working_set_to_limit)} "
            "of the limit."
        )

    def resolved(self, was: str, a: Assessment, killed_at: float | None) -> Message:
        """`was`: the severity the alert had. Ended by a kill: one line, pointing to it."""
        ref = a.memory.ref
        if killed_at is not None:
            title = f"ENDED BY OOM KILL · {owner(ref, a.memory.workload)} · {ref.container}"
            line = (
                f"Was {was}; OOM-killed at {self.clock(killed_at)} (see the OOMKilled message) "
                f"and restarted, now at {format_ratio(a.working_set_to_limit)}."
            )
            return Message(f":boom: *{title}*\n{line}", (header(f"💥 {title}"), section(line)))
        title = f"RESOLVED · {owner(ref, a.memory.workload)} · {ref.container}"
        limit = quantity(a.memory.limit_bytes) if a.memory.limit_bytes else "no"
        line = (
            f"Was {was}; now {format_bytes(a.memory.working_set_bytes)}, "
            f"{format_ratio(a.working_set_to_limit)} of its {limit} limit."
        )
        blocks = (header(f"✅ {title}"), section(line), context(f"pod {ref.pod}"))
        return Message(f":white_check_mark: *{title}*\n{line}", blocks)

    def resolved_reply(
        self, fired_at: float, a: Assessment, at: float, killed_at: float | None
    ) -> Message:
        how = (
            f"Ended by the OOM kill at {self.clock(killed_at)}; after the restart"
            if killed_at is not None
            else f"Resolved at {self.clock(at)} after {format_duration(at - fired_at)}:"
        )
        return self._note(
            f"{how} working set {format_bytes(a.memory.working_set_bytes)} = "
            f"{format_ratio(a.working_set_to_limit)} of the limit."
        )

    def stale(self, record: AlertRecord, at: float) -> Message:
        ref = record_ref(record)
        body = (
            f"Was {record.severity}. No metrics for {format_duration(at - record.last_seen_at)}: "
            "the pod is gone or no longer scraped. Not resolved: podmem cannot tell."
        )
        text = f":grey_question: *NO DATA* memory · {where(ref)}\n{body}"
        return Message(text, (header(f"❔ NO DATA · {where(ref)}"), section(body)))

    def silenced_note(self, silence: Silence) -> str:
        until = f" until {self.clock(silence.until)}" if silence.until else " until unmuted"
        what = "Muted" if silence.until is None else "Snoozed"
        target = f"{silence.scope} {silence.name}" if silence.name else silence.scope
        return f"{SILENCE_MARK} {what} {target} by {silence.created_by}{until}."

    def oom(self, alerts: Sequence[KilledContainer]) -> Message:
        first = alerts[0]
        call = next((f"{mention(a.owner_id)} " for a in alerts if a.owner_id), "")
        k, c = first.kill, first.context
        if len(alerts) == 1:
            when = self.kill_time(k)
            figures = (
                f"peak working set {format_bytes(c.peak_working_set_bytes)} · peak RSS "
                f"{format_bytes(c.peak_rss_bytes)} · peak cache "
                f"{format_bytes(c.peak_cache_bytes)} · "
                f"limit {format_bytes(c.limit_bytes)} · request {format_bytes(c.request_bytes)}"
            )
            by_node = first.cause == "node"
            title = f"OOMKilled by node {first.node}" if by_node else "OOMKilled"
            top = "\n".join(f"• `{pod}` {format_bytes(ws)}" for pod, ws in first.node_top)
            story = c.story + (f"\nLargest users of {first.node} then:\n{top}" if top else "")
            story = call + story
            text = (
                f":boom: *{title}* · {where(k.ref)} · killed {when}, "
                f"restart #{k.restart_count + 1}"
                + (f" · {k.workload}" if k.workload else "")
                + f"\n{story}\n{figures}"
            )
            pairs = [
                ("Killed", f"{when} · restart #{k.restart_count + 1}"),
                ("Ran for", format_duration(c.seconds_running) if c.seconds_running else "unknown"),
                ("Peak working set", format_bytes(c.peak_working_set_bytes)),
                ("Limit", format_bytes(c.limit_bytes)),
                ("Peak RSS", format_bytes(c.peak_rss_bytes)),
                ("Request", format_bytes(c.request_bytes)),
                ("Peak cache", format_bytes(c.peak_cache_bytes)),
                ("Node", first.node or "unknown")
                if by_node
                else ("Suggested limit", _quantity(c.suggested_limit_bytes)),
            ]
            apply = None if by_node else _apply(k.ref, k.workload, c.suggested_limit_bytes)
            blocks = (
                header(f"💥 {title} · {where(k.ref)}"),
                section(story),
                fields(pairs),
                *([section(apply)] if apply else []),
                self.where_context(k.ref, k.workload, None),
                self.actions(k.ref, k.workload),
            )
            return Message(text + (f"\n{apply}" if apply else ""), blocks)
        owner = k.workload or k.ref.pod
        by_container: dict[ContainerRef, list[KilledContainer]] = {}
        for alert in alerts:
            by_container.setdefault(alert.kill.ref, []).append(alert)
        pods = f" · {len({r.pod for r in by_container})} pods" if len(by_container) > 1 else ""
        title = f"{len(alerts)} OOM kills · {owner} ({k.ref.namespace}){pods}"
        lines = []
        for ref, kills in by_container.items():
            timed = [a.kill for a in kills if a.kill.finished_at]
            latest = max(timed, key=_finished, default=None)
            last = f"last {self.kill_time(latest)}" if latest else "in the last minutes"
            peak = max((a.context.peak_working_set_bytes or 0) for a in kills)
            count = f"{len(kills)} kills, " if len(kills) > 1 else ""
            lines.append(
                f"• `{ref.pod}` · {ref.container} · {count}{last} · peak working set "
                f"{format_bytes(peak)}"
            )
        # Replicas share one spec: the largest suggestion among the limit's kills fits them all.
        wanted = max(
            (a.context.suggested_limit_bytes or 0 for a in alerts if a.cause != "node"), default=0
        )
        apply = _apply(k.ref, k.workload, wanted or None)
        text = (
            f":boom: *OOMKilled* · {title}\n"
            + "\n".join(lines[:20])
            + (f"\n… and {len(lines) - 20} more" if len(lines) > 20 else "")
            + f"\n{call}{c.story}"
            + (f"\n{apply}" if apply else "")
        )
        blocks = (
            header(f"💥 {title}"),
            section(call + c.story),
            section("\n".join(lines)),
            *([section(apply)] if apply else []),
            self.where_context(k.ref, k.workload, None),
            self.actions(k.ref, k.workload),
        )
        return Message(text, blocks)

    def storm(self, storm: Storm) -> Message:
        """Many alerts at once: how many, how bad, what they share, the worst few."""
        alerts = storm.alerts
        critical = sum(1 for s in alerts if s.severity == "critical")
        title = f"MEMORY STORM · {len(alerts)} alerts {_storm_place(storm)}"
        shared = _common_factors(storm)
        summary = f"{critical} critical, {len(alerts) - critical} warning" + (
            f" · {shared}" if shared else ""
        )
        if storm.scope == "channel":
            summary += "\n" + _spread(storm)
        lines = [_storm_line(s) for s in alerts[:STORM_SHOWN]]
        more = len(alerts) - len(lines)
        tail = f"\n_…and {more} more in the thread._" if more > 0 else ""
        body = "\n".join(lines) + tail
        note = "Each of these alerts says what happens to it next in this thread."
        text = f":thunder_cloud_and_rain: *{title}*\n{summary}\n{body}"
        blocks = (header(f"⛈️ {title}"), section(summary), section(body), context(note))
        return Message(text, blocks)

    def storm_list(self, storm: Storm) -> Message:
        lines = [_storm_line(s) for s in storm.alerts]
        text = f"All {len(lines)} alerts:\n" + "\n".join(lines)
        return Message(text, (section(text),))  # fit splits a long list into sections

    def storm_note(self, notice: Notice, a: Assessment | None) -> Message:
        """A later notice of an alert told in a storm: a line in the storm's thread, naming it."""
        if isinstance(notice, AlertStale):
            r = notice.alert
            ref = ContainerRef(r.cluster, r.namespace, r.pod, r.container)
            return self._note(
                f"`{where(ref)}`: {self.stale(notice.alert, notice.at).text.splitlines()[1]}"
            )
        assert a is not None
        if isinstance(notice, AlertFired):  # another replica of the workload crossed too
            said = f"also *{notice.severity.upper()}* — {headline(a)}"
        elif isinstance(notice, AlertEscalated):
            said = self.escalated(a, notice.seen.at).text
        elif isinstance(notice, AlertReminder):
            said = self.reminder(a, notice.severity, notice.fired_at, notice.seen.at).text
        else:
            assert isinstance(notice, AlertResolved)
            said = self.resolved_reply(notice.fired_at, a, notice.seen.at, notice.killed_at).text
        return self._note(f"`{where(a.memory.ref)}`: {said}")

    def silences(self, active: Sequence[Silence]) -> Message:
        """Active snoozes and mutes, each with its Unmute button."""
        if not active:
            return self._note(f"{SILENCE_MARK} No active snoozes or mutes.")
        title = f"{SILENCE_MARK} {len(active)} active snooze(s) and mute(s)"
        blocks: list[Block] = [section(f"*{title}*")]
        lines = []
        for s in sorted(active, key=lambda s: (s.namespace, s.scope, s.name)):
            target = f"{s.namespace}/{s.name}" if s.name else s.namespace
            line = f"{s.scope} `{target}` · {self.silenced_note(s)}" + (
                f" ({s.reason})" if s.reason else ""
            )
            lines.append(line)
            blocks.append(section(line))
            blocks.append(buttons(("Unmute", "podmem_unsilence", {"id": s.id}, None)))
        return Message(f"{title}:\n" + "\n".join(lines), tuple(blocks))

    def degraded(self, error: str) -> Message:
        return self._note(
            ":construction: *Monitoring degraded*: podmem cannot read memory metrics.\n"
            f"{error}\nAlerts are held as they are (nothing resolves) until data is back."
        )

    def recovered(self, since: float, at: float) -> Message:
        return self._note(
            f":white_check_mark: *Monitoring recovered* after {format_duration(at - since)}: "
            "checks are running again."
        )

    @staticmethod
    def _note(text: str) -> Message:
        return Message(text, (section(text),))


def _quantity(value: int | None) -> str:
    return "n/a" if value is None else quantity(value)


def _apply(ref: ContainerRef, workload: str | None, limit: int | None) -> str | None:
    """The suggested limit as a command to paste, where one can apply it."""
    if limit is None:
        return None
    command = set_resources_command(ref.namespace, workload, ref.container, limit=quantity(limit))
    return f"To apply: `{command}`" if command else None


def _storm_line(s: StormMember, *, icon: bool = True) -> str:
    line = f"`{where(ContainerRef(*s.ref))}` {format_ratio(s.working_set_to_limit)}"
    if not icon:
        return line
    return f"{'🚨' if s.severity == 'critical' else '⚠️'} {line}"


def _storm_place(storm: Storm) -> str:
    if storm.scope == "namespace":
        return f"in namespace {storm.name}"
    if storm.scope == "node":
        return f"on node {storm.name}"
    namespaces = len({s.ref[:2] for s in storm.alerts})
    return f"in {namespaces} namespace{'s' if namespaces != 1 else ''}"


# Namespaces or nodes a channel's storm names in its summary; the list in its thread has all.
SPREAD_SHOWN = 5


def _spread(storm: Storm) -> str:
    """Where a channel's storm is, the biggest first: its namespaces and its nodes, with how
    many alerts each (a sick node shows as the node most of them share)."""
    lines = []
    for label, values in (
        ("Namespaces", [s.ref[1] for s in storm.alerts]),
        ("Nodes", [s.node for s in storm.alerts if s.node]),
    ):
        counted = Counter(values).most_common()
        if not counted:
            continue
        shown = " · ".join(f"{name} {n}" for name, n in counted[:SPREAD_SHOWN])
        more = len(counted) - SPREAD_SHOWN
        lines.append(f"{label}: {shown}" + (f" · +{more} more" if more > 0 else ""))
    return "\n".join(lines)


def _common_factors(storm: Storm) -> str:
    """What most of a storm's alerts share, beyond its namespace or node: the thing to look at."""
    found = []
    count = len(storm.alerts)
    for phrase, values in (
        ("{}", [s.workload for s in storm.alerts]),
        # A channel's storm lists its nodes and namespaces in a line of their own.
        ("on node {}", [s.node for s in storm.alerts] if storm.scope == "namespace" else []),
        ("in namespace {}", [s.ref[1] for s in storm.alerts] if storm.scope == "node" else []),
    ):
        known = [v for v in values if v]
        if not known:
            continue
        value, n = Counter(known).most_common(1)[0]
        if n * 2 > count:  # most of them
            found.append(f"{'all' if n == count else f'{n} of {count}'} {phrase.format(value)}")
    return " · ".join(found)


def _finished(kill: OomKill) -> float:
    return kill.finished_at.timestamp() if kill.finished_at else 0.0
