"""Terminal text: a table an SRE reads at a glance, sizes in MiB/GiB, the verdict in words."""

from __future__ import annotations

import textwrap
from datetime import datetime

from bot.analysis import Assessment
from bot.check import CheckResult
from bot.model import Verdict
from bot.render.bars import BAR_LEGEND, memory_bar, sparkline
from bot.report import ContainerReport, Report
from bot.units import format_bytes, format_duration, format_rate, format_ratio

WRAP = 96


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, WRAP, initial_indent=indent, subsequent_indent=indent)


def _pod(a: Assessment) -> str:
    return str(a.memory.ref.pod_name)


def render_report(report: Report) -> str:
    names = ", ".join(str(pod) for pod in report.pods)
    lines = [
        f"podmem report · {names} · {_when(report.evaluated_at)} · "
        f"last {format_duration(report.range_seconds)}",
        "",
    ]
    if not report.containers:
        lines.append("  The pod exists but has no container memory series at this time.")
    for item in report.containers:
        lines.extend(_container_block(item))
        lines.append("")
    lines.append(f"  bar: {BAR_LEGEND}")
    return "\n".join(lines)


def _container_block(item: ContainerReport) -> list[str]:
    a = item.assessment
    m = a.memory
    header = f"{_pod(a)} · container {m.ref.container}"
    if m.node:
        header += f" · node {m.node}"
    lines = [f"{header}   [{a.verdict.value.upper()}]", _wrap(a.reason), ""]

    def row(label: str, value: str, ratio: str = "", note: str = "") -> str:
        return f"  {label:<16}{value:>11}  {ratio:>6}  {note}".rstrip()

    bar = memory_bar(a)
    lines.append(
        row(
            "working set",
            format_bytes(m.working_set_bytes),
            format_ratio(a.working_set_to_limit) if m.limit_bytes else "",
            f"|{bar}|" if bar else "",
        )
    )
    lines.append(
        row(
            "  RSS",
            format_bytes(m.rss_bytes),
            format_ratio(a.rss_to_limit) if m.limit_bytes else "",
        )
    )
    lines.append(row("  active cache", format_bytes(a.active_cache_bytes)))
    lines.append(
        row(
            "reclaimable",
            format_bytes(a.reclaimable_bytes),
            "",
            "page cache the kernel drops before any OOM kill",
        )
    )
    lines.append(
        row(
            "usage",
            format_bytes(m.usage_bytes),
            format_ratio(a.usage_to_limit) if m.limit_bytes else "",
            "= working set + reclaimable; not what OOM follows",
        )
    )
    lines.append(row("swap", format_bytes(m.swap_bytes)))
    lines.append(
        row(
            "limit",
            format_bytes(m.limit_bytes) if m.limit_bytes else "none",
            "",
            f"from {m.limit_source}" if m.limit_source else "",
        )
    )
    lines.append(
        row(
            "request",
            format_bytes(m.request_bytes) if m.request_bytes else "none",
            "",
            f"working set = {format_ratio(a.working_set_to_request)} of it"
            if a.working_set_to_request is not None
            else "",
        )
    )
    trend = format_rate(m.growth_bytes_per_second)
    if a.seconds_to_limit is not None:
        trend += f" · limit in {format_duration(a.seconds_to_limit)}"
    lines.append(row("trend", "", "", trend))
    lines.append(row("restarts", "n/a" if m.restarts is None else str(m.restarts)))
    for kill in item.oom_kills:
        when = _when(kill.finished_at) if kill.finished_at else "time unknown"
        lines.append(row("OOM kill", "", "", f"{when} · restart count {kill.restart_count}"))
    if item.working_set_history:
        values = [value for _, value in item.working_set_history]
        lines.append(
            row(
                "history",
                "",
                "",
                sparkline(values, ceiling=m.limit_bytes)
                + f"  peak {format_bytes(item.peak_working_set_bytes)}",
            )
        )
    return lines


def render_check(result: CheckResult) -> str:
    counts = result.verdicts
    summary = ", ".join(f"{counts[v]} {v.value}" for v in Verdict if counts[v])
    lines = [
        f"podmem check · {_when(result.evaluated_at)} · {result.containers_checked} containers "
        f"({summary or 'none'}) · {len(result.alerts)} memory alerts",
        "",
    ]
    if not result.alerts:
        lines.append("  No memory alerts: no working set is near its limit.")
    else:
        head = (
            f"  {'SEVERITY':<9}{'POD':<42}{'CONTAINER':<14}{'WS/LIM':>7}{'USE/LIM':>8}"
            f"{'WORKING SET':>13}{'LIMIT':>11}  {'TREND':<14}{'TO LIMIT':>9}"
        )
        lines.append(head)
        for alert in result.alerts:
            a, m = alert.assessment, alert.assessment.memory
            lines.append(
                f"  {alert.severity:<9}{_pod(a)[:41]:<42}{m.ref.container[:13]:<14}"
                f"{format_ratio(a.working_set_to_limit):>7}{format_ratio(a.usage_to_limit):>8}"
                f"{format_bytes(m.working_set_bytes):>13}{format_bytes(m.limit_bytes):>11}  "
                f"{format_rate(m.growth_bytes_per_second):<14}"
                f"{format_duration(a.seconds_to_limit):>9}"
            )
            lines.append(_wrap(a.reason, "      "))
    if result.oom_alerts:
        lines += ["", f"  OOM kills in the look-back window: {len(result.oom_alerts)}"]
        for oom in result.oom_alerts:
            kill = oom.kill
            when = _when(kill.finished_at) if kill.finished_at else "time unknown"
            size = len(oom.group.kills)
            group = f" · group of {size}" if size > 1 else ""
            lines.append(
                f"  oom_killed {kill.ref.pod_name} · {kill.ref.container} · restart "
                f"count {kill.restart_count} · {when} · {kill.workload or 'no workload'}{group}"
            )
            lines.append(_wrap(oom.context.story, "      "))
    if counts[Verdict.CACHE_HEAVY]:
        lines += [
            "",
            _wrap(
                f"{counts[Verdict.CACHE_HEAVY]} container(s) look full by usage but are "
                "cache_heavy: their working set is below the warning ratio and the rest is page "
                "cache the kernel reclaims first. No alert, by design."
            ),
        ]
    return "\n".join(lines)
