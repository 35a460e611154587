"""The alert lifecycle: from one check's findings and the remembered state, what to say.

Pure decisions (no I/O, the time is an argument): the caller runs them inside a state
transaction, which also persists the notifications they queue — the outbox.

- A memory alert fires once its verdict is warning/critical (the for-duration is already in
  the verdict), escalates warning → critical by editing its message and noting it in the
  thread, reminds in the thread every repeat interval, and resolves — edit + thread reply —
  only when the working set is back below warning − hysteresis. Missing data never resolves:
  after `stale_after_seconds` without data the alert is closed as stale, and says so.
- An OOM kill is announced once per identity (one message per group of kills); kills that
  happened before podmem started watching are remembered silently.
- Silences suppress new alerts, reminders and escalation notes; a message already in the
  channel is still kept truthful (edits).
Every message goes through `render.slack.fit`, the one chokepoint that makes it legal for
Slack; what does not fit goes into the thread.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from bot.analysis import Assessment
from bot.check import CheckResult
from bot.kills import OomAlert
from bot.model import ContainerRef, Verdict
from bot.render.memory_events import evicted_message, process_oom_message
from bot.render.messages import Renderer
from bot.render.slack import Message, fit
from bot.routing import active_silence, channel_for
from bot.settings import Settings
from bot.state.document import AlertRecord, ChartRequest, Degraded, Notification, State

# Seen kills are remembered this long: far beyond any look-back window, small in the state.
KILL_MEMORY_SECONDS = 86400
# Message locations are kept this long after their alert is gone (buttons, late replies).
MESSAGE_MEMORY_SECONDS = 7 * 86400
# A kill's chart shows this much before the kill.
KILL_CHART_SECONDS = 3600

Action = Literal["post", "update", "reply"]


def alert_key(ref: ContainerRef) -> str:
    return f"memory/{ref.cluster}/{ref.namespace}/{ref.pod}/{ref.container}"


def say(
    state: State, action: Action, *, channel: str, thread: str, message: Message, at: float
) -> None:
    """Queue a message; parts that do not fit Slack's limits follow as thread replies."""
    if action != "post" and thread in state.messages:
        channel = state.messages[thread].channel
    for index, part in enumerate(fit(message)):
        state.outbox.append(
            Notification(
                id=state.new_id(),
                action=action if index == 0 else "reply",
                channel=channel,
                thread=thread,
                text=part.text,
                blocks=part.blocks or None,
                created_at=at,
            )
        )


def attach_chart(
    state: State, *, channel: str, thread: str, chart: ChartRequest, at: float
) -> None:
    state.outbox.append(
        Notification(
            id=state.new_id(),
            action="upload",
            channel=channel,
            thread=thread,
            text="memory chart",
            chart=chart,
            created_at=at,
        )
    )


def apply_check(state: State, result: CheckResult, *, at: float, settings: Settings) -> None:
    """Fold one successful check into the state, queueing what must be said."""
    render = Renderer(settings)
    first_cycle = state.watching_since is None
    if first_cycle:
        state.watching_since = at
    if state.degraded is not None:
        _announce(state, settings, render.recovered(state.degraded.since, at), at)
        state.degraded = None
    state.silences = [s for s in state.silences if s.until is None or s.until > at]
    _apply_kills(state, result, render, at=at, settings=settings, first_cycle=first_cycle)
    _apply_memory_events(state, result, at=at, settings=settings, first_cycle=first_cycle)
    _apply_memory(state, result, render, at=at, settings=settings, killed=_kill_times(result, at))
    state.kills_seen = {k: t for k, t in state.kills_seen.items() if at - t < KILL_MEMORY_SECONDS}
    live = set(state.alerts) | {n.thread for n in state.outbox}
    state.messages = {
        k: m
        for k, m in state.messages.items()
        if k in live or at - m.posted_at < MESSAGE_MEMORY_SECONDS
    }


def apply_failure(state: State, error: str, *, at: float, settings: Settings) -> None:
    """A check could not read its data: say so once, and change nothing else."""
    if state.degraded is None:
        state.degraded = Degraded(since=at, error=error)
        _announce(state, settings, Renderer(settings).degraded(error), at)


def _announce(state: State, settings: Settings, message: Message, at: float) -> None:
    channel = settings.slack_channel or next((r.channel for r in settings.routes), None)
    if channel is not None:
        say(
            state, "post", channel=channel, thread=f"notice/{state.next_id}", message=message, at=at
        )


def _channel(a: Assessment | None, namespace: str, settings: Settings) -> str | None:
    labels = dict(a.memory.pod_labels) if a else {}
    return channel_for(namespace, labels, settings)


def _apply_kills(
    state: State,
    result: CheckResult,
    render: Renderer,
    *,
    at: float,
    settings: Settings,
    first_cycle: bool,
) -> None:
    watching_since = state.watching_since or at
    fresh: dict[str, list[OomAlert]] = defaultdict(list)
    for alert in result.oom_alerts:
        key = alert.kill.key
        if key in state.kills_seen:
            continue
        state.kills_seen[key] = at
        finished = alert.kill.finished_at.timestamp() if alert.kill.finished_at else None
        before_watching = (finished is not None and finished < watching_since) or (
            finished is None and first_cycle
        )
        silenced = active_silence(state.silences, alert.kill.ref, alert.kill.workload, at)
        opted_out = alert.assessment is not None and alert.assessment.memory.ignored
        if not before_watching and silenced is None and not opted_out:
            fresh[alert.group.key].append(alert)
    for group_key, alerts in fresh.items():
        ref = alerts[0].kill.ref
        channel = _channel(alerts[0].assessment, ref.namespace, settings)
        if channel is None:
            continue
        thread = f"oom/{group_key}"
        say(state, "post", channel=channel, thread=thread, message=render.oom(alerts), at=at)
        kills = [
            a.kill.finished_at.timestamp()
            for a in alerts
            if a.kill.ref == ref and a.kill.finished_at
        ]
        first = min(kills, default=at)
        chart = ChartRequest(
            cluster=ref.cluster,
            namespace=ref.namespace,
            pod=ref.pod,
            container=ref.container,
            start=first - KILL_CHART_SECONDS,
            end=at,
            kills=kills,
            limit_bytes=alerts[0].context.limit_bytes,
            request_bytes=alerts[0].context.request_bytes,
        )
        attach_chart(state, channel=channel, thread=thread, chart=chart, at=at)


def _apply_memory_events(
    state: State, result: CheckResult, *, at: float, settings: Settings, first_cycle: bool
) -> None:
    """Evictions and worker-process kills: said once each, like kills (remembered with them);
    those already there when podmem started watching are remembered silently."""
    events: list[tuple[str, str, Message, bool]] = []  # key, namespace, message, say it?
    for eviction in result.evictions:
        p = eviction.pod
        ref = ContainerRef(p.cluster, p.namespace, p.pod, "")
        quiet = active_silence(state.silences, ref, eviction.workload, at) is not None
        events.append((eviction.key, p.namespace, evicted_message(eviction), not quiet))
    for worker in result.process_ooms:
        m = worker.assessment.memory
        quiet = m.ignored or active_silence(state.silences, m.ref, m.workload, at) is not None
        events.append((worker.key, m.ref.namespace, process_oom_message(worker), not quiet))
    for key, namespace, message, announce in events:
        if key in state.kills_seen:
            continue
        state.kills_seen[key] = at
        channel = channel_for(namespace, {}, settings)
        if announce and not first_cycle and channel is not None:
            say(state, "post", channel=channel, thread=key, message=message, at=at)


def _kill_times(result: CheckResult, at: float) -> dict[ContainerRef, float]:
    """When each container was last OOM-killed within this check's look-back."""
    times: dict[ContainerRef, float] = {}
    for kill in result.kills:
        finished = kill.finished_at.timestamp() if kill.finished_at else at
        times[kill.ref] = max(times.get(kill.ref, 0.0), finished)
    return times


def _apply_memory(
    state: State,
    result: CheckResult,
    render: Renderer,
    *,
    at: float,
    settings: Settings,
    killed: dict[ContainerRef, float],
) -> None:
    seen: set[str] = set()
    for a in result.assessments:
        key = alert_key(a.memory.ref)
        seen.add(key)
        record = state.alerts.get(key)
        if a.verdict is Verdict.NO_DATA or (
            record is not None and record.had_limit and a.memory.limit_bytes is None
        ):
            # Missing data (the limit too: a kube-state-metrics restart drops it for a cycle)
            # changes nothing that was said; only a long absence closes the alert, as stale.
            if record is not None:
                _maybe_stale(state, record, render, at=at, settings=settings)
            continue
        if record is not None:
            record.last_seen_at = at
        if a.verdict.is_alert:
            _firing(state, a, record, render, at=at, settings=settings)
        elif record is not None and _recovered(a, record):
            del state.alerts[key]
            # A restart after an OOM kill "resolves" the figures: the messages say what happened.
            kill = killed.get(a.memory.ref)
            say(
                state,
                "update",
                channel=record.channel,
                thread=key,
                message=render.resolved(record, a, kill),
                at=at,
            )
            say(
                state,
                "reply",
                channel=record.channel,
                thread=key,
                message=render.resolved_reply(record, a, at, kill),
                at=at,
            )
    # A container that vanished from the metrics altogether is missing data, not resolved.
    for key in list(state.alerts):
        if key not in seen:
            _maybe_stale(state, state.alerts[key], render, at=at, settings=settings)


def _recovered(a: Assessment, record: AlertRecord) -> bool:
    """Back to normal, judged on figures that are there: an alert raised without a limit
    (thrashing, a kill loop) resolves when its verdict no longer alerts. An alert a kill loop
    raised resolves only once no kill is left in the look-back: between two kills it looks
    calm, and an alert that resolved and fired again at every kill would be noise."""
    if record.kill_loop and a.oom_kills:
        return False
    ratio = a.working_set_to_limit
    if ratio is None:
        return a.memory.working_set_bytes is not None and a.memory.limit_bytes is None
    return ratio < a.thresholds.resolve_below


def _firing(
    state: State,
    a: Assessment,
    record: AlertRecord | None,
    render: Renderer,
    *,
    at: float,
    settings: Settings,
) -> None:
    ref, severity = a.memory.ref, a.verdict.value
    key = alert_key(ref)
    silence = active_silence(state.silences, ref, a.memory.workload, at)
    if record is None:
        channel = _channel(a, ref.namespace, settings)
        if silence is not None or channel is None or a.memory.ignored:
            return
        state.alerts[key] = AlertRecord(
            key=key,
            cluster=ref.cluster,
            namespace=ref.namespace,
            pod=ref.pod,
            container=ref.container,
            workload=a.memory.workload,
            severity=severity,  # type: ignore[arg-type]
            channel=channel,
            fired_at=at,
            last_notified_at=at,
            last_seen_at=at,
            had_limit=a.memory.limit_bytes is not None,
            kill_loop=a.oom_kills >= a.thresholds.oom_crashloop_kills
            and (a.sustained_working_set_to_limit or 0.0) < a.thresholds.warning_ratio,
        )
        say(
            state,
            "post",
            channel=channel,
            thread=key,
            message=render.memory_alert(a, severity),
            at=at,
        )
        chart = ChartRequest(
            cluster=ref.cluster,
            namespace=ref.namespace,
            pod=ref.pod,
            container=ref.container,
            start=at - settings.report_range_seconds,
            end=at,
            limit_bytes=a.memory.limit_bytes,
            request_bytes=a.memory.request_bytes,
        )
        attach_chart(state, channel=channel, thread=key, chart=chart, at=at)
        return
    record.silenced = silence is not None
    if severity == "critical" and record.severity == "warning":
        record.severity = "critical"
        say(
            state,
            "update",
            channel=record.channel,
            thread=key,
            message=render.memory_alert(a, "critical", silence),
            at=at,
        )
        if silence is None:
            record.last_notified_at = at
            say(
                state,
                "reply",
                channel=record.channel,
                thread=key,
                message=render.escalated(a, at),
                at=at,
            )
    elif silence is None and at - record.last_notified_at >= settings.repeat_interval_seconds:
        record.last_notified_at = at
        say(
            state,
            "reply",
            channel=record.channel,
            thread=key,
            message=render.reminder(a, record, at),
            at=at,
        )


def _maybe_stale(
    state: State, record: AlertRecord, render: Renderer, *, at: float, settings: Settings
) -> None:
    if at - record.last_seen_at < settings.stale_after_seconds:
        return
    del state.alerts[record.key]
    say(
        state,
        "update",
        channel=record.channel,
        thread=record.key,
        message=render.stale(record, at),
        at=at,
    )
