"""Reports in Slack: one pod, a workload, the top of the cluster, candidates, help."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from bot.analysis import Assessment
from bot.model import PodName
from bot.render.bars import sparkline
from bot.render.messages import Renderer, target_value, where
from bot.render.slack import Message, buttons, context, divider, header, section
from bot.report import Report
from bot.units import format_bytes, format_duration, format_ratio

VERDICT_ICONS = {
    "critical": "🚨",
    "warning": "⚠️",
    "cache_heavy": "🧊",
    "ok": "✅",
    "no_limit": "♾️",
    "no_data": "❔",
}


def _title(a: Assessment) -> str:
    icon = VERDICT_ICONS.get(a.verdict.value, "")
    return f"{icon} *{a.memory.ref.container}* · {a.verdict.value.upper()}"


def report_message(report: Report, render: Renderer, *, share_button: bool) -> Message:
    names = ", ".join(str(p) for p in report.pods)
    when = render.clock(report.evaluated_at.timestamp())
    span = format_duration(report.range_seconds)
    blocks: list[Block] = [header(f"📋 {names}"), context(f"at {when} · last {span}")]
    texts = [f"podmem report · {names} · {when}"]
    if not report.containers:
        note = "The pod exists but has no container memory series at this time."
        blocks.append(section(note))
        texts.append(note)
    for item in report.containers:
        a = item.assessment
        blocks += [divider(), section(f"{_title(a)}\n{a.reason}"), *render.breakdown_blocks(a)]
        texts.append(f"{a.memory.ref.container}: {a.verdict.value} — {a.reason}")
        if item.working_set_history:
            values = [v for _, v in item.working_set_history]
            line = sparkline(values, width=40, ceiling=a.memory.limit_bytes)
            blocks.append(
                context(
                    f"working set, last {span}: `{line}` "
                    f"peak {format_bytes(item.peak_working_set_bytes)}"
                )
            )
        for kill in item.oom_kills:
            when_killed = (
                render.clock(kill.finished_at.timestamp()) if kill.finished_at else "time unknown"
            )
            blocks.append(
                context(f"💥 OOM-killed {when_killed} · restart #{kill.restart_count + 1}")
            )
        m = a.memory
        blocks.append(render.where_context(m.ref, m.workload, m.node))
    if share_button and report.containers:
        ref = report.containers[0].assessment.memory.ref
        value = {**target_value(ref, None), "r": str(int(report.range_seconds))}
        blocks.append(buttons(("Share with chart", "podmem_share", value, "primary")))
    return Message("\n".join(texts), tuple(blocks))


def top_message(assessments: Sequence[Assessment], scope: str, count: int) -> Message:
    ranked = sorted(
        (a for a in assessments if a.working_set_to_limit is not None),
        key=lambda a: -(a.working_set_to_limit or 0.0),
    )[:count]
    lines = [
        f"{VERDICT_ICONS.get(a.verdict.value, '')} `{where(a.memory.ref)}` "
        f"*{format_ratio(a.working_set_to_limit)}* ({format_bytes(a.memory.working_set_bytes)} of "
        f"{format_bytes(a.memory.limit_bytes)}) · usage {format_ratio(a.usage_to_limit)}"
        for a in ranked
    ]
    body = "\n".join(lines) or "No containers with a memory limit here."
    title = f"Closest to their limit · {scope}"
    return Message(
        f"{title}\n{body}",
        (header(f"📈 {title}"), section(body), context("_working set / limit: what OOM follows_")),
    )


def workload_message(workload: str, namespace: str, assessments: Sequence[Assessment]) -> Message:
    if not assessments:
        text = f"No running pods of {workload} in namespace {namespace}."
        return Message(text, (section(text),))
    lines = [
        f"{VERDICT_ICONS.get(a.verdict.value, '')} `{a.memory.ref.pod}` · "
        f"{a.memory.ref.container}: "
        f"*{format_ratio(a.working_set_to_limit)}* of {format_bytes(a.memory.limit_bytes)} · "
        f"working set {format_bytes(a.memory.working_set_bytes)}"
        for a in sorted(assessments, key=lambda a: -(a.working_set_to_limit or 0.0))
    ]
    title = f"{workload} in {namespace} · {len({a.memory.ref.pod for a in assessments})} pod(s)"
    body = "\n".join(lines)
    return Message(f"{title}\n{body}", (header(f"📦 {title}"), section(body)))


def candidates_message(problem: str, candidates: Sequence[PodName]) -> Message:
    blocks: list[Block] = [section(f"🤔 {problem}")]
    if candidates:
        items = [
            (
                str(c)[:75],
                f"podmem_pick_{i}",
                {"c": c.cluster, "n": c.namespace, "p": c.pod, "k": "", "w": ""},
                None,
            )
            for i, c in enumerate(candidates[:10])
        ]
        blocks.append(buttons(*items))
    return Message(problem, tuple(blocks))


def error_message(problem: str, usage: str) -> Message:
    text = f"⚠️ {problem}\n{usage}"
    return Message(text, (section(f"⚠️ {problem}"), context(usage)))


def help_message(usage: str) -> Message:
    text = (
        "*podmem* tells you the truth about a container's memory: the *working set* (what the "
        "kernel OOM-kills on), the page cache it can reclaim, and how fast it grows.\n" + usage
    )
    return Message(text, (section(text),))
