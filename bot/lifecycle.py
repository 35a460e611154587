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
What is queued are notices (`bot/notices.py`): what happened and the figures behind it. How
each destination tells it is decided when it is sent; nothing here knows about Slack.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from functools import partial
from typing import Literal

from bot.analysis import Assessment
from bot.check import CheckResult, pods_per_workload
from bot.kills import OomAlert
from bot.model import ContainerRef, Verdict
from bot.notices import (
    AlertEscalated,
    AlertFired,
    AlertReminder,
    AlertResolved,
    AlertStale,
    Collapsed,
    Evicted,
    KilledContainer,
    Kills,
    MonitoringDegraded,
    MonitoringRecovered,
    Notice,
    Observation,
    ProcessOom,
    Storm,
    StormMember,
    alert_key,
    observations,
)
from bot.routing import Destinations, Severity, active_silence, destinations, every_destination
from bot.settings import Settings
from bot.state.document import (
    AlertRecord,
    Degraded,
    KillThread,
    Notification,
    State,
    Target,
    dump_state,
    message_key,
)

# Seen kills are remembered this long: far beyond any look-back window, small in the state.
KILL_MEMORY_SECONDS = 86400
# Message locations are kept this long after their alert is gone (buttons, late replies).
MESSAGE_MEMORY_SECONDS = 7 * 86400
# A storm is of one namespace or one node; several storms for one channel in one check are one
# "channel" storm (every alert that channel hears of this check).
StormScope = Literal["namespace", "node", "channel"]
STORM_SCOPES: tuple[StormScope, ...] = ("namespace", "node")
# A storm being gathered: (scope, channel, its namespace or node, the alerts it takes).
StormGroup = tuple[StormScope, str, str, list[tuple[Notification, AlertFired]]]
# The state document never grows past this (a ConfigMap holds 1 MiB); when waiting notices
# would push it there, the oldest collapse until it is back to COLLAPSE_TO of it.
MAX_STATE_BYTES = 900 * 1024
COLLAPSE_TO = 0.75


def notify(
    state: State,
    notice: Notice,
    *,
    thread: str,
    at: float,
    channels: Iterable[str] = (),
    webhooks: Iterable[str] = (),
) -> None:
    """Queue a notice for each Slack channel and each webhook given; `thread` names the
    conversation it belongs to (in each channel its own messages)."""
    addresses = [("slack", c) for c in channels] + [("webhook", w) for w in webhooks]
    for target, address in addresses:
        state.outbox.append(
            Notification(
                id=state.new_id(),
                target=target,  # type: ignore[arg-type]
                channel=address,
                thread=thread,
                notice=notice,
                created_at=at,
            )
        )


def apply_check(state: State, result: CheckResult, *, at: float, settings: Settings) -> None:
    """Fold one successful check into the state, queueing what must be said."""
    first_cycle = state.watching_since is None
    if first_cycle:
        state.watching_since = at
    if state.degraded is not None:
        _announce(state, settings, MonitoringRecovered(since=state.degraded.since, at=at), at)
        state.degraded = None
    state.silences = [s for s in state.silences if s.until is None or s.until > at]
    _apply_kills(state, result, at=at, settings=settings, first_cycle=first_cycle)
    _apply_memory_events(state, result, at=at, settings=settings, first_cycle=first_cycle)
    since = len(state.outbox)
    _apply_memory(state, result, at=at, settings=settings, killed=_kill_times(result, at))
    _gather_storms(state, since, at=at, settings=settings)
    _gather_replicas(state, since, result)
    state.kills_seen = {k: t for k, t in state.kills_seen.items() if at - t < KILL_MEMORY_SECONDS}
    live = {message_key(c, r.key) for r in state.alerts.values() for c in r.channels}
    live |= set(state.alerts) | {n.message_key for n in state.outbox}
    state.messages = {
        k: m
        for k, m in state.messages.items()
        if k in live or at - m.posted_at < MESSAGE_MEMORY_SECONDS
    }
    keep_under(state)


def shown_in_notices(
    state: State, result: CheckResult, *, at: float, settings: Settings
) -> set[ContainerRef]:
    """The containers whose figures the notices of this check would carry: apply_check tried
    on `state` (a copy the caller throws away), its new notices read. So a check fetches the
    whole breakdown of those alone: a storm's members are lines of one notice (a ratio each),
    not observations, unless a notice of their own goes somewhere (a webhook's)."""
    before = {note.id for note in state.outbox}
    apply_check(state, result, at=at, settings=settings)
    return {
        seen.memory.ref
        for note in state.outbox
        if note.id not in before
        for seen in observations(note.notice)
    }


def apply_failure(state: State, error: str, *, at: float, settings: Settings) -> None:
    """A check could not read its data: say so once, and change nothing else."""
    if state.degraded is None:
        state.degraded = Degraded(since=at, error=error)
        _announce(state, settings, MonitoringDegraded(error=error), at)
        keep_under(state)


def keep_under(state: State, limit: int = MAX_STATE_BYTES) -> None:
    """When notices pile up (a destination down through an incident), the oldest waiting
    ones — and what later waits on their threads — become one summary per destination, so
    the document stays writable (a ConfigMap holds 1 MiB) and nothing vanishes unsaid.
    The head of the outbox may be half-sent: it stays."""
    size = len(dump_state(state))
    if size <= limit or len(state.outbox) < 3:
        return
    excess, freed, cut = size - limit * COLLAPSE_TO, 0, 1
    while cut < len(state.outbox) - 1 and freed < excess:
        freed += len(state.outbox[cut].model_dump_json())
        cut += 1
    gone = state.outbox[1:cut]
    unposted = {n.message_key: n.thread for n in gone if state.message_for(n) is None}
    gone += [n for n in state.outbox[cut:] if n.message_key in unposted]
    for thread in unposted.values():
        # An alert whose first post is gone is forgotten: it fires anew if it still holds,
        # rather than leave edits and replies that have no message to go to.
        state.alerts.pop(thread, None)
    ids = {n.id for n in gone}
    groups: dict[tuple[Target, str], list[Notification]] = defaultdict(list)
    for note in gone:
        groups[(note.target, note.channel)].append(note)
    summaries = [
        Notification(
            id=state.new_id(),
            target=target,
            channel=channel,
            thread=f"notice/collapsed/{state.next_id}",
            notice=_summary(notes),
            created_at=max(n.created_at for n in notes),
        )
        for (target, channel), notes in sorted(groups.items())
    ]
    kept = [n for n in state.outbox[1:] if n.id not in ids]
    state.outbox = [state.outbox[0], *summaries, *kept]


def _summary(notes: list[Notification]) -> Collapsed:
    """One notice for many; a summary collapsed again adds up what it summarised."""
    kinds: Counter[str] = Counter()
    first = min(n.created_at for n in notes)
    for note in notes:
        if isinstance(note.notice, Collapsed):
            kinds.update(note.notice.kinds)
            first = min(first, note.notice.first_at)
        else:
            kinds[note.kind] += 1
    return Collapsed(
        count=sum(kinds.values()),
        kinds=dict(kinds),
        first_at=first,
        last_at=max(n.created_at for n in notes),
    )


def _announce(state: State, settings: Settings, notice: Notice, at: float) -> None:
    # A pager behind a webhook needs to know its alerts are blind, too.
    to = every_destination(settings)
    notify(
        state,
        notice,
        thread=f"notice/{state.next_id}",
        at=at,
        channels=to.channels,
        webhooks=to.webhooks,
    )


def _destinations(
    a: Assessment | None, ref: ContainerRef, settings: Settings, severity: Severity
) -> Destinations:
    labels = dict(a.memory.pod_labels) if a else {}
    return destinations(ref, labels, settings, severity)


def _apply_kills(
    state: State,
    result: CheckResult,
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
    window = settings.kill_thread_seconds
    state.kill_threads = {k: t for k, t in state.kill_threads.items() if at - t.last_at <= window}
    for group_key, alerts in fresh.items():
        ref = alerts[0].kill.ref
        to = _destinations(alerts[0].assessment, ref, settings, "critical")
        if not to:
            continue
        told = [
            KilledContainer(
                kill=a.kill,
                context=a.context,
                cause=a.cause,
                node=a.node,
                node_top=a.node_top,
                owner_id=a.assessment.memory.owner_id if a.assessment else None,
            )
            for a in alerts
        ]
        owner = f"{ref.cluster}/{ref.namespace}/{alerts[0].kill.workload or 'pod/' + ref.pod}"
        earlier = state.kill_threads.get(owner)
        # A channel that was told this workload's kills lately gets the new ones in that
        # thread; a channel new to it (a route changed) gets a message of its own.
        thread = earlier.thread if earlier is not None else f"oom/{group_key}"
        told_in = set(earlier.channels) if earlier is not None else set()
        for channel in to.channels:
            kills = Kills(kills=told, at=at, follow_up=channel in told_in)
            notify(state, kills, thread=thread, at=at, channels=[channel])
        first = f"oom/{group_key}"
        notify(state, Kills(kills=told, at=at), thread=first, at=at, webhooks=to.webhooks)
        state.kill_threads[owner] = KillThread(
            thread=thread, channels=sorted(told_in | set(to.channels)), last_at=at
        )


def _apply_memory_events(
    state: State, result: CheckResult, *, at: float, settings: Settings, first_cycle: bool
) -> None:
    """Evictions and worker-process kills: said once each, like kills (remembered with them);
    those already there when podmem started watching are remembered silently."""
    events: list[tuple[str, ContainerRef, Severity, Notice, bool]] = []  # ..., say it?
    for e in result.evictions:
        p = e.pod
        ref = ContainerRef(p.cluster, p.namespace, p.pod, "")
        quiet = active_silence(state.silences, ref, e.workload, at) is not None
        evicted = Evicted(
            pod=p,
            node=e.node,
            memory_pressure=e.memory_pressure,
            last_working_set_bytes=e.last_working_set_bytes,
            workload=e.workload,
        )
        events.append((e.key, ref, "critical", evicted, not quiet))
    for worker in result.process_ooms:
        m = worker.assessment.memory
        quiet = m.ignored or active_silence(state.silences, m.ref, m.workload, at) is not None
        told = ProcessOom(seen=Observation.of(worker.assessment, at), events=worker.events)
        events.append((worker.key, m.ref, "warning", told, not quiet))
    for key, ref, severity, notice, announce in events:
        if key in state.kills_seen:
            continue
        state.kills_seen[key] = at
        if announce and not first_cycle:
            to = destinations(ref, {}, settings, severity)
            notify(state, notice, thread=key, at=at, channels=to.channels, webhooks=to.webhooks)


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
                _maybe_stale(state, record, at=at, settings=settings)
            continue
        if record is not None:
            record.last_seen_at = at
        if a.verdict.is_alert:
            _firing(state, a, record, at=at, settings=settings)
        elif record is not None and _recovered(a, record):
            del state.alerts[key]
            # A restart after an OOM kill "resolves" the figures: the messages say what happened.
            resolved = partial(
                AlertResolved,
                severity=record.severity,
                fired_at=record.fired_at,
                seen=Observation.of(a, at),
                killed_at=killed.get(a.memory.ref),
            )
            _follow_up(state, record, resolved, at=at)
    # A container that vanished from the metrics altogether is missing data, not resolved.
    for key in list(state.alerts):
        if key not in seen:
            _maybe_stale(state, state.alerts[key], at=at, settings=settings)


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
    *,
    at: float,
    settings: Settings,
) -> None:
    ref, severity = a.memory.ref, a.verdict.value
    key = alert_key(ref)
    silence = active_silence(state.silences, ref, a.memory.workload, at)
    to = _destinations(a, ref, settings, severity)  # type: ignore[arg-type]
    if record is None:
        if silence is not None or not to or a.memory.ignored:
            return
        record = state.alerts[key] = AlertRecord(
            key=key,
            cluster=ref.cluster,
            namespace=ref.namespace,
            pod=ref.pod,
            container=ref.container,
            workload=a.memory.workload,
            severity=severity,  # type: ignore[arg-type]
            channels=list(to.channels),
            fired_at=at,
            last_notified_at=at,
            last_seen_at=at,
            had_limit=a.memory.limit_bytes is not None,
            kill_loop=a.oom_kills >= a.thresholds.oom_crashloop_kills
            and (a.sustained_working_set_to_limit or 0.0) < a.thresholds.warning_ratio,
            webhooks=list(to.webhooks),
        )
        fired = AlertFired(severity=record.severity, seen=Observation.of(a, at))
        notify(state, fired, thread=key, at=at, channels=to.channels, webhooks=to.webhooks)
        return
    record.silenced = silence is not None
    seen = Observation.of(a, at)
    if severity == "critical" and record.severity == "warning":
        record.severity = "critical"

        escalated = partial(AlertEscalated, seen=seen, silence=silence)
        _follow_up(state, record, escalated, at=at)
        if silence is None:
            record.last_notified_at = at
            _widen(state, record, to, seen, at=at)
    elif silence is None and at - record.last_notified_at >= settings.repeat_interval_seconds:
        record.last_notified_at = at
        reminder = partial(
            AlertReminder, severity=record.severity, fired_at=record.fired_at, seen=seen
        )
        _follow_up(state, record, reminder, at=at)


def _widen(
    state: State, record: AlertRecord, to: Destinations, seen: Observation, *, at: float
) -> None:
    """An escalation a route sends further (a critical-only pager channel): the places that
    had not heard of the alert get it as a new critical alert, and its later news."""
    channels = [c for c in to.channels if c not in record.channels]
    webhooks = [w for w in to.webhooks if w not in record.webhooks]
    if not channels and not webhooks:
        return
    fired = AlertFired(severity="critical", seen=seen)
    notify(state, fired, thread=record.key, at=at, channels=channels, webhooks=webhooks)
    record.channels += channels
    record.webhooks += webhooks


def _maybe_stale(state: State, record: AlertRecord, *, at: float, settings: Settings) -> None:
    if at - record.last_seen_at < settings.stale_after_seconds:
        return
    del state.alerts[record.key]

    stale = partial(AlertStale, alert=record, at=at)
    _follow_up(state, record, stale, at=at)


def _follow_up(
    state: State, record: AlertRecord, notice: Callable[..., Notice], *, at: float
) -> None:
    """A later notice of an alert, in each channel it was told in: in its own thread there,
    or in the storm (or lead replica's alert) it was told in. `notice(in_storm=...)` makes it."""
    for channel in record.channels:
        storm = record.storms.get(channel)
        told = notice(in_storm=storm is not None)
        notify(state, told, thread=storm or record.key, at=at, channels=[channel])
    # A webhook knows each alert by its own key.
    notify(state, notice(in_storm=False), thread=record.key, at=at, webhooks=record.webhooks)


def _gather_storms(state: State, since: int, *, at: float, settings: Settings) -> None:
    """More than storm_threshold new alerts for one channel in one namespace (then, of those
    left, on one node) this cycle: one storm message, the list in its thread, instead of a
    post each; several for one channel, one storm of them all. Their later notices go to
    that thread. Webhooks still get each alert."""
    fired = _fired_since(state, since)
    taken: set[str] = set()
    storms: list[StormGroup] = []
    for scope in STORM_SCOPES:
        groups: dict[tuple[str, str], list[tuple[Notification, AlertFired]]] = defaultdict(list)
        for note, told in fired:
            m = told.seen.memory
            name = m.ref.namespace if scope == "namespace" else m.node
            if name and note.id not in taken:
                groups[(note.channel, name)].append((note, told))
        for (channel, name), members in sorted(groups.items()):
            if len(members) > settings.storm_threshold:
                taken |= {note.id for note, _ in members}
                storms.append((scope, channel, name, members))
    if not storms:
        return
    state.outbox = [n for n in state.outbox if n.id not in taken]
    queued = len(state.outbox)
    for scope, channel, name, members in _one_per_channel(storms):
        thread = f"storm/{scope}/{name or channel}/{at:.0f}"
        for note, _ in members:
            state.alerts[note.thread].storms[channel] = thread
        listed = sorted((_storm_member(alert) for _, alert in members), key=_worst_first)
        storm = Storm(scope=scope, name=name, at=at, alerts=listed)
        notify(state, storm, thread=thread, at=at, channels=[channel])
    # A storm is this check's biggest news: it goes out before the check's other notices. A
    # notice waiting in the state is written with every message sent before it, and a storm
    # of 2 000 is most of the state's bytes until it leaves.
    storm_notices, state.outbox[queued:] = state.outbox[queued:], []
    state.outbox[since:since] = storm_notices


def _one_per_channel(storms: list[StormGroup]) -> list[StormGroup]:
    """Several storms for one channel in one check (a sick node pool hits many namespaces at
    once) are one storm of everything the channel hears: one message, not one per namespace,
    each at Slack's one message per second, for what the on-call reads as one incident."""
    by_channel: dict[str, list[StormGroup]] = defaultdict(list)
    for storm in storms:
        by_channel[storm[1]].append(storm)
    folded: list[StormGroup] = []
    for channel, found in by_channel.items():
        if len(found) == 1:
            folded += found
            continue
        members = [member for _, _, _, part in found for member in part]
        folded.append(("channel", channel, "", members))
    return folded


WorkloadKey = tuple[str, str, str, str, str]  # channel, cluster, namespace, workload, container


def _gather_replicas(state: State, since: int, result: CheckResult) -> None:
    """Replicas of one workload that fired together this cycle (and not in a storm) are one
    alert: the worst one's, naming the others, whose later news are lines in its thread.
    A replica that crosses while its workload's alert is open in the channel joins it: a
    line in that alert's thread, not a post of its own."""
    fired = _fired_since(state, since)
    groups: dict[WorkloadKey, list[tuple[Notification, AlertFired]]] = defaultdict(list)
    for note, told in fired:
        r, workload = told.seen.memory.ref, told.seen.memory.workload
        if workload:
            groups[(note.channel, r.cluster, r.namespace, workload, r.container)].append(
                (note, told)
            )
    _join_open(state, groups)
    replicas = result.replicas or pods_per_workload(a.memory for a in result.assessments)
    gone: set[str] = set()
    for (channel, cluster, namespace, workload, _), members in groups.items():
        if len(members) < 2:
            continue
        ranked = sorted(members, key=lambda pair: _worst_first(_storm_member(pair[1])))
        (lead, leading), rest = ranked[0], ranked[1:]
        for note, _ in rest:
            state.alerts[note.thread].storms[channel] = lead.thread
            gone.add(note.id)
        leading.others = [_storm_member(told) for _, told in rest]
        leading.replicas = max(len(members), replicas.get((cluster, namespace, workload), 0))
    state.outbox = [n for n in state.outbox if n.id not in gone]


def _join_open(
    state: State, groups: dict[WorkloadKey, list[tuple[Notification, AlertFired]]]
) -> None:
    """Replicas firing while an alert of their workload is open in the channel (one with a
    message of its own there) become lines in its thread. They leave `groups`."""
    fresh = {note.thread for members in groups.values() for note, _ in members}
    open_alerts: dict[WorkloadKey, str] = {}
    # Of two such alerts (rare), the one that fired last, whatever order the state keeps.
    for r in sorted(state.alerts.values(), key=lambda r: (r.fired_at, r.key)):
        if r.workload and r.key not in fresh:
            for channel in r.channels:
                if channel not in r.storms:
                    open_alerts[(channel, r.cluster, r.namespace, r.workload, r.container)] = r.key
    for key in [k for k in groups if k in open_alerts]:
        lead = open_alerts[key]
        for note, told in groups.pop(key):
            state.alerts[note.thread].storms[note.channel] = lead
            note.thread = lead
            # A copy: the notice object is shared with the alert's other destinations.
            note.notice = told.model_copy(update={"joined": True})


def _fired_since(state: State, since: int) -> list[tuple[Notification, AlertFired]]:
    """The alerts this cycle fired to Slack (outbox entries from `since` on)."""
    return [
        (n, n.notice)
        for n in state.outbox[since:]
        if n.target == "slack" and isinstance(n.notice, AlertFired)
    ]


def _worst_first(member: StormMember) -> tuple[bool, float]:
    """Critical before warning, then the fuller."""
    return (member.severity != "critical", -(member.working_set_to_limit or 0.0))


def _storm_member(fired: AlertFired) -> StormMember:
    m = fired.seen.memory
    full = (
        round(m.working_set_bytes / m.limit_bytes, 4)
        if m.working_set_bytes and m.limit_bytes
        else None
    )
    return StormMember(
        ref=(m.ref.cluster, m.ref.namespace, m.ref.pod, m.ref.container),
        workload=m.workload,
        node=m.node,
        severity=fired.severity,
        working_set_to_limit=full,
    )
