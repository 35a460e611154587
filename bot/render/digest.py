"""The digest in words and blocks: short lists in the message, the full lists in its thread."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from bot.analysis import Assessment
from bot.digest import Digest
from bot.model import Verdict
from bot.render.slack import Message, context, header, section
from bot.rightsizing import Finding
from bot.settings import Settings
from bot.units import format_bytes, format_ratio, quantity
from bot.workloads import set_resources_command

SHORT = 5


def _delta(now: int, before: int | None) -> str:
    if before is None or now == before:
        return ""
    return f" ({'+' if now > before else '−'}{abs(now - before)} since yesterday)"


def _by_workload(assessments: Sequence[Assessment]) -> list[tuple[Assessment, int]]:
    """One line per workload and container (its first, i.e. worst, replica) and how many
    replicas it stands for: a digest names workloads, not pod hashes."""
    first: dict[tuple[str, str, str, str], Assessment] = {}
    count: Counter[tuple[str, str, str, str]] = Counter()
    for a in assessments:
        r = a.memory.ref
        key = (r.cluster, r.namespace, a.memory.workload or r.pod, r.container)
        first.setdefault(key, a)
        count[key] += 1
    return [(a, count[key]) for key, a in first.items()]


def _name(a: Assessment, replicas: int) -> str:
    r = a.memory.ref
    more = f" (worst of {replicas} replicas)" if replicas > 1 else ""
    return f"`{r.namespace}/{a.memory.workload or r.pod}` · {r.container}{more}"


def _row(a: Assessment, replicas: int = 1) -> str:
    m = a.memory
    return (
        f"• {_name(a, replicas)}: *{format_ratio(a.working_set_to_limit)}* "
        f"({format_bytes(m.working_set_bytes)} of {format_bytes(m.limit_bytes)})"
    )


def _finding(f: Finding) -> str:
    """The finding, its suggestion as a quantity, and the command that applies it."""
    name = f.workload or f.ref.pod
    replicas = f" ({f.replicas} replicas)" if f.replicas > 1 else ""
    where = f"`{f.ref.namespace}/{name}` · {f.ref.container}{replicas}"
    size = quantity(f.suggested_bytes)
    if f.kind == "over_provisioned_request":
        line = (
            f"• {where}: request {format_bytes(f.current_bytes)}, p95 working set "
            f"{format_bytes(f.p95_bytes)} → request *{size}* frees "
            f"*{format_bytes(f.freed_bytes)}*"
        )
        command = set_resources_command(f.ref.namespace, f.workload, f.ref.container, request=size)
    else:
        line = (
            f"• {where}: peak working set {format_bytes(f.peak_bytes)} = "
            f"{format_ratio(f.peak_bytes / f.current_bytes)} of the "
            f"{format_bytes(f.current_bytes)} limit → limit *{size}*"
        )
        command = set_resources_command(f.ref.namespace, f.workload, f.ref.container, limit=size)
    return line + (f"\n   `{command}`" if command else "")


class DigestRenderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)

    def sections(self, d: Digest, limit: int | None) -> list[tuple[str, list[str], int]]:
        """(title, lines, total) per section; `limit` cuts each list (None: everything)."""
        kills = [
            f"• {workload}: *{len(kills)}* {'kill' if len(kills) == 1 else 'kills'} · "
            + ", ".join(sorted({f"`{k.ref.pod}`" for k in kills}))
            for workload, kills in d.kills_by_workload.items()
        ]
        over = [f for f in d.findings if f.kind == "over_provisioned_request"]
        under = [f for f in d.findings if f.kind == "limit_below_peak"]
        no_limit = [
            f"• {_name(a, n)}: working set {format_bytes(a.memory.working_set_bytes)}"
            + (
                f", request {format_bytes(a.memory.request_bytes)}"
                if a.memory.request_bytes
                else ", no request"
            )
            for a, n in _by_workload(d.no_limit)
        ]
        cache = [
            _row(a, n)
            + f" by working set; usage {format_ratio(a.usage_to_limit)}, the rest is cache"
            for a, n in _by_workload(d.cache_heavy)
        ]
        top = [_row(a, n) for a, n in _by_workload(d.top) if (a.working_set_to_limit or 0) > 0]
        parts = [
            ("Closest to their limit (working set / limit)", top, "top"),
            ("OOM kills in the last 24 h", kills, ""),
            ("Limits below the observed peak", [_finding(f) for f in under], ""),
            (
                f"Over-provisioned requests (could free {format_bytes(d.freeable_bytes)})",
                [_finding(f) for f in over],
                "",
            ),
            ("No memory limit", no_limit, "no_limit"),
            (
                "Looks full, is cache: no OOM risk (usage counts reclaimable page cache)",
                cache,
                "cache_heavy",
            ),
        ]
        n = limit if limit is not None else None
        return [
            (title, lines[:n] if n else lines, len(lines) + d.more.get(name, 0))
            for title, lines, name in parts
            if lines
        ]

    def message(self, d: Digest) -> Message:
        prev = d.previous
        c = d.counts
        when = d.evaluated_at.astimezone(self.zone).strftime("%a %d %b %H:%M %Z")
        critical, warning = c[Verdict.CRITICAL], c[Verdict.WARNING]
        summary = (
            f"{d.containers} containers · *{critical}* critical"
            f"{_delta(critical, prev.critical if prev else None)} · *{warning}* warning"
            f"{_delta(c[Verdict.WARNING], prev.warning if prev else None)} · *{len(d.kills)}* OOM "
            f"kill(s) in 24 h{_delta(len(d.kills), prev.kills if prev else None)} · "
            f"{c[Verdict.NO_LIMIT]} without a limit"
        )
        blocks: list[Block] = [header(f"📊 podmem daily digest · {when}"), section(summary)]
        text_lines = [f":bar_chart: *podmem daily digest* · {when}", summary]
        for title, lines, total in self.sections(d, SHORT):
            more = f"\n_…and {total - len(lines)} more in the thread_" if total > len(lines) else ""
            body = f"*{title}*\n" + "\n".join(lines) + more
            blocks.append(section(body))
            text_lines.append(body)
        if d.rightsizing_error:
            blocks.append(context(f"Right-sizing skipped: {d.rightsizing_error}"))
        else:
            window = self.settings.rightsizing_window_seconds / 86400
            blocks.append(
                context(
                    f"Right-sizing from p95 and peak working set over {window:g} d, "
                    f"+{self.settings.rightsizing_headroom_ratio:.0%} headroom. "
                    "_OOM kills follow the working set, not usage._"
                )
            )
        return Message("\n".join(text_lines), tuple(blocks))

    def details(self, d: Digest) -> Message | None:
        """The full lists, for the thread, when the message had to cut them."""
        full = [(t, lines, total) for t, lines, total in self.sections(d, None) if total > SHORT]
        if not full:
            return None
        blocks: list[Block] = []
        texts = []
        for title, lines, total in full:
            count = f"all {total}" if total == len(lines) else f"first {len(lines)} of {total}"
            body = f"*{title}* ({count})\n" + "\n".join(lines)
            blocks.append(section(body))
            texts.append(body)
        return Message("\n".join(texts), tuple(blocks))

    def as_json(self, d: Digest) -> dict[str, Any]:
        def container(a: Assessment) -> dict[str, Any]:
            m = a.memory
            return {
                "cluster": m.ref.cluster,
                "namespace": m.ref.namespace,
                "pod": m.ref.pod,
                "container": m.ref.container,
                "verdict": a.verdict.value,
                "working_set_bytes": m.working_set_bytes,
                "limit_bytes": m.limit_bytes,
                "usage_bytes": m.usage_bytes,
                "working_set_to_limit": a.working_set_to_limit,
                "usage_to_limit": a.usage_to_limit,
            }

        return {
            "channel": d.channel,
            "evaluated_at": d.evaluated_at.isoformat().replace("+00:00", "Z"),
            "containers": d.containers,
            "counts": {v.value: n for v, n in d.counts.items()},
            "top": [container(a) for a in d.top[: self.settings.digest_top]],
            "oom_kills": {
                w: [
                    {
                        "pod": k.ref.pod,
                        "container": k.ref.container,
                        "restart_count": k.restart_count,
                        "finished_at": k.finished_at.isoformat() if k.finished_at else None,
                    }
                    for k in kills
                ]
                for w, kills in d.kills_by_workload.items()
            },
            "no_limit": [container(a) for a in d.no_limit],
            "cache_heavy": [container(a) for a in d.cache_heavy],
            "rightsizing": [
                {
                    "namespace": f.ref.namespace,
                    "pod": f.ref.pod,
                    "container": f.ref.container,
                    "kind": f.kind,
                    "current_bytes": f.current_bytes,
                    "suggested_bytes": f.suggested_bytes,
                    "p95_bytes": f.p95_bytes,
                    "peak_bytes": f.peak_bytes,
                    "freed_bytes": f.freed_bytes,
                }
                for f in d.findings
            ],
            "freeable_bytes": d.freeable_bytes,
            "rightsizing_error": d.rightsizing_error,
        }
