"""The JSON contract of PRODUCT.md 1.4. Fields may be added, never renamed or removed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.analysis import Assessment
from bot.check import CheckResult
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
    }


def report_json(report: Report) -> dict[str, Any]:
    def row(item: ContainerReport) -> dict[str, Any]:
        return {
            **container_fields(item.assessment),
            "peak_working_set_bytes": item.peak_working_set_bytes,
            "oom_kills": [],
        }

    return {
        "evaluated_at": _instant(report.evaluated_at),
        "range_seconds": report.range_seconds,
        "containers": [row(item) for item in report.containers],
    }


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "evaluated_at": _instant(result.evaluated_at),
        "containers_checked": len(result.assessments),
        "alerts": [
            {"kind": alert.kind, "severity": alert.severity, **container_fields(alert.assessment)}
            for alert in result.alerts
        ],
    }
