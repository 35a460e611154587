"""The JSON contract of PRODUCT.md 1.4. Fields may be added, never renamed or removed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.analysis import Assessment
from bot.check import CheckResult
from bot.kills import EvictedAlert, OomAlert, ProcessOomAlert
from bot.model import OomKill
from bot.report import ContainerReport, Report


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def container_fields(a: Assessment) -> dict[str, Any]:
    m = a.memory
    return {
        "cluster": m.ref.cluster,
        "namespace": m.ref.namespace,
        "pod": m.ref.pod,
        "container": m.ref.container,
        "workload": m.workload,
        "node": m.node,
        "working_set_bytes": m.working_set_bytes,
        "usage_bytes": m.usage_bytes,
        "rss_bytes": m.rss_bytes,
        "cache_bytes": m.cache_bytes,
        "swap_bytes": m.swap_bytes,
        "limit_bytes": m.limit_bytes,
        "request_bytes": m.request_bytes,
        "reclaimable_bytes": a.reclaimable_bytes,
        "active_cache_bytes": a.active_cache_bytes,
        "working_set_to_limit": _round(a.working_set_to_limit),
        "working_set_to_request": _round(a.working_set_to_request),
        "usage_to_limit": _round(a.usage_to_limit),
        "rss_to_limit": _round(a.rss_to_limit),
        "growth_bytes_per_second": _round(m.growth_bytes_per_second, 3),
        "seconds_to_limit": _round(a.seconds_to_limit, 1),
        "limit_source": m.limit_source,
        "verdict": a.verdict.value,
        "reason": a.reason,
        "restarts": m.restarts,
        "memory_stalled_ratio": _round(m.memory_stalled_ratio),
        "thresholds": {
            "warning_ratio": a.thresholds.warning_ratio,
            "critical_ratio": a.thresholds.critical_ratio,
        },
    }


def _when(at: datetime | None) -> str | None:
    return None if at is None else _instant(at)


def kill_fields(kill: OomKill) -> dict[str, Any]:
    return {
        "finished_at": _when(kill.finished_at),
        "started_at": _when(kill.started_at),
        "exit_code": kill.exit_code,
        "restart_count": kill.restart_count,
        "source": kill.source,
    }


def oom_alert_fields(alert: OomAlert) -> dict[str, Any]:
    kill, context = alert.kill, alert.context
    current = container_fields(alert.assessment) if alert.assessment else {}
    return {
        **current,
        "kind": alert.kind,
        "severity": alert.severity,
        "cluster": kill.ref.cluster,
        "namespace": kill.ref.namespace,
        "pod": kill.ref.pod,
        "container": kill.ref.container,
        "workload": kill.workload,
        **kill_fields(kill),
        "peak_working_set_bytes": context.peak_working_set_bytes,
        "peak_rss_bytes": context.peak_rss_bytes,
        "peak_cache_bytes": context.peak_cache_bytes,
        "peak_usage_bytes": context.peak_usage_bytes,
        "limit_bytes": context.limit_bytes,
        "request_bytes": context.request_bytes,
        "seconds_running": context.seconds_running,
        "suggested_limit_bytes": context.suggested_limit_bytes,
        "reason": context.story,
        "group": alert.group.key,
        "group_size": len(alert.group.kills),
        "cause": alert.cause,
        "node": alert.node or current.get("node"),
        "node_top_pods": [{"pod": pod, "working_set_bytes": ws} for pod, ws in alert.node_top],
    }


def eviction_fields(alert: EvictedAlert) -> dict[str, Any]:
    p = alert.pod
    return {
        "kind": alert.kind,
        "severity": alert.severity,
        "cluster": p.cluster,
        "namespace": p.namespace,
        "pod": p.pod,
        "container": None,  # the pod, all its containers, went
        "workload": alert.workload,
        "node": alert.node,
        "memory_pressure": alert.memory_pressure,
        "working_set_bytes": alert.last_working_set_bytes,
    }


def process_oom_fields(alert: ProcessOomAlert) -> dict[str, Any]:
    return {
        **container_fields(alert.assessment),
        "kind": alert.kind,
        "severity": alert.severity,
        "processes_killed": alert.events,
    }


def report_json(report: Report) -> dict[str, Any]:
    def row(item: ContainerReport) -> dict[str, Any]:
        return {
            **container_fields(item.assessment),
            "peak_working_set_bytes": item.peak_working_set_bytes,
            "oom_kills": [kill_fields(kill) for kill in item.oom_kills],
        }

    return {
        "evaluated_at": _instant(report.evaluated_at),
        "range_seconds": report.range_seconds,
        "containers": [row(item) for item in report.containers],
    }


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "evaluated_at": _instant(result.evaluated_at),
        "containers_checked": result.containers_checked,
        "verdicts": {v.value: n for v, n in sorted(result.verdicts.items())},
        "alerts": [
            {"kind": alert.kind, "severity": alert.severity, **container_fields(alert.assessment)}
            for alert in result.alerts
        ]
        + [oom_alert_fields(alert) for alert in result.oom_alerts]
        + [eviction_fields(alert) for alert in result.evictions]
        + [process_oom_fields(alert) for alert in result.process_ooms],
        "notes": list(result.notes),
    }
