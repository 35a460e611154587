"""The words of each Slack message. Plain text with every figure; issue-5 blocks build on it.

Each function returns the text of one message; the lifecycle decides which to send.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.analysis import Assessment
from bot.check import OomAlert
from bot.state.document import AlertRecord, Silence
from bot.units import format_bytes, format_duration, format_rate, format_ratio

ICONS = {"warning": ":warning:", "critical": ":rotating_light:"}


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%H:%M UTC")


def _where(cluster: str, namespace: str, pod: str, container: str) -> str:
    prefix = f"{cluster}:" if cluster else ""
    return f"{prefix}{namespace}/{pod} · {container}"


def breakdown(a: Assessment) -> str:
    """The figures an SRE needs, in one line each, working set first."""
    m = a.memory
    lines = [
        f"working set {format_bytes(m.working_set_bytes)} = "
        f"{format_ratio(a.working_set_to_limit)} of limit {format_bytes(m.limit_bytes)}"
        + (
            f" ({format_ratio(a.working_set_to_request)} of request "
            f"{format_bytes(m.request_bytes)})"
            if m.request_bytes
            else ""
        ),
        f"RSS {format_bytes(m.rss_bytes)} · active cache {format_bytes(a.active_cache_bytes)}"
        f" · reclaimable cache {format_bytes(a.reclaimable_bytes)}"
        f" · swap {format_bytes(m.swap_bytes)}",
        f"usage {format_bytes(m.usage_bytes)} = {format_ratio(a.usage_to_limit)} of limit "
        "(includes reclaimable cache; OOM follows the working set)",
        f"trend {format_rate(m.growth_bytes_per_second)}"
        + (f" · limit in {format_duration(a.seconds_to_limit)}" if a.seconds_to_limit else ""),
    ]
    if m.node or m.workload:
        lines.append(" · ".join(x for x in (m.workload, m.node and f"node {m.node}") if x))
    return "\n".join(lines)


def memory_alert(a: Assessment, severity: str) -> str:
    r = a.memory.ref
    return (
        f"{ICONS.get(severity, '')} *{severity.upper()}* memory · "
        f"{_where(r.cluster, r.namespace, r.pod, r.container)}\n{a.reason}\n{breakdown(a)}"
    )


def escalated(a: Assessment, at: float) -> str:
    return (
        f"Escalated to *CRITICAL* at {_clock(at)}: working set "
        f"{format_ratio(a.working_set_to_limit)} of the limit."
    )


def reminder(a: Assessment, record: AlertRecord, at: float) -> str:
    return (
        f"Still {record.severity} after {format_duration(at - record.fired_at)}: working set "
        f"{format_bytes(a.memory.working_set_bytes)} = {format_ratio(a.working_set_to_limit)} "
        "of the limit."
    )


def resolved_message(record: AlertRecord, a: Assessment, killed_at: float | None) -> str:
    where = _where(record.cluster, record.namespace, record.pod, record.container)
    if killed_at is not None:
        return (
            f":boom: *ENDED BY OOM KILL* memory · {where}\n"
            f"Was {record.severity}; OOM-killed at {_clock(killed_at)} and restarted. "
            f"Now: {a.reason}"
        )
    return f":white_check_mark: *RESOLVED* memory · {where}\nWas {record.severity}. Now: {a.reason}"


def resolved_reply(record: AlertRecord, a: Assessment, at: float, killed_at: float | None) -> str:
    how = (
        f"Ended by the OOM kill at {_clock(killed_at)}; after the restart"
        if killed_at is not None
        else f"Resolved at {_clock(at)} after {format_duration(at - record.fired_at)}:"
    )
    return (
        f"{how} working set {format_bytes(a.memory.working_set_bytes)} = "
        f"{format_ratio(a.working_set_to_limit)} of the limit."
    )


def stale_message(record: AlertRecord, at: float) -> str:
    return (
        f":grey_question: *NO DATA* memory · "
        f"{_where(record.cluster, record.namespace, record.pod, record.container)}\n"
        f"Was {record.severity}. No metrics for {format_duration(at - record.last_seen_at)}: "
        "the pod is gone or no longer scraped. Not resolved: podmem cannot tell."
    )


def silenced_note(silence: Silence) -> str:
    until = f" until {_clock(silence.until)}" if silence.until else ""
    return f"Silenced by {silence.created_by}{until}."


def oom_message(alerts: list[OomAlert]) -> str:
    first = alerts[0]
    k = first.kill
    if len(alerts) == 1:
        when = _clock(k.finished_at.timestamp()) if k.finished_at else "in the last minutes"
        c = first.context
        figures = (
            f"peak working set {format_bytes(c.peak_working_set_bytes)} · peak RSS "
            f"{format_bytes(c.peak_rss_bytes)} · peak cache {format_bytes(c.peak_cache_bytes)} · "
            f"limit {format_bytes(c.limit_bytes)} · request {format_bytes(c.request_bytes)}"
        )
        return (
            f":boom: *OOMKilled* · "
            f"{_where(k.ref.cluster, k.ref.namespace, k.ref.pod, k.ref.container)}"
            f" · killed {when}, restart #{k.restart_count + 1}"
            + (f" · {k.workload}" if k.workload else "")
            + f"\n{c.story}\n{figures}"
        )
    pods = sorted({a.kill.ref.pod for a in alerts})
    lines = [
        f":boom: *OOMKilled* · {len(alerts)} kills in {k.workload or k.ref.pod} "
        f"({k.ref.namespace}) across {len(pods)} pod(s)"
    ]
    for alert in alerts[:20]:
        kill = alert.kill
        when = _clock(kill.finished_at.timestamp()) if kill.finished_at else "time unknown"
        lines.append(
            f"• {kill.ref.pod} · {kill.ref.container} · {when} · peak working set "
            f"{format_bytes(alert.context.peak_working_set_bytes)}"
        )
    if len(alerts) > 20:
        lines.append(f"… and {len(alerts) - 20} more")
    lines.append(alerts[0].context.story)
    return "\n".join(lines)


def degraded_message(error: str) -> str:
    return (
        ":construction: *Monitoring degraded*: podmem cannot read memory metrics.\n"
        f"{error}\nAlerts are held as they are (nothing resolves) until data is back."
    )


def recovered_message(since: float, at: float) -> str:
    return (
        f":white_check_mark: *Monitoring recovered* after {format_duration(at - since)}: "
        "checks are running again."
    )
