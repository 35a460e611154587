"""podmem's own /metrics: is it checking, is it delivering, is it the leader."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.state.document import State


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.check_duration = Histogram(
            "podmem_check_duration_seconds",
            "Duration of one check cycle.",
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.checks = Counter(
            "podmem_checks_total", "Check cycles by outcome.", ["outcome"], registry=r
        )
        self.job_errors = Counter(
            "podmem_job_errors_total", "Scheduled jobs that raised.", ["job"], registry=r
        )
        self.alerts = Gauge(
            "podmem_alerts",
            "Alerts podmem holds open, by kind and severity.",
            ["kind", "severity"],
            registry=r,
        )
        self.deliveries = Counter(
            "podmem_deliveries_total", "Notifications by result.", ["result"], registry=r
        )
        self.outbox_depth = Gauge(
            "podmem_outbox_depth", "Notifications waiting for Slack.", registry=r
        )
        self.state_errors = Counter(
            "podmem_state_errors_total",
            "Checks that could not read or write the state (disk full, file damaged).",
            registry=r,
        )
        self.leader = Gauge("podmem_leader", "1 while this replica leads.", registry=r)
        self.degraded = Gauge(
            "podmem_degraded", "1 while memory metrics cannot be read.", registry=r
        )

    def observe_state(self, state: State) -> None:
        self.outbox_depth.set(len(state.outbox))
        self.degraded.set(1 if state.degraded else 0)
        for severity in ("warning", "critical"):
            count = sum(1 for a in state.alerts.values() if a.severity == severity)
            self.alerts.labels("memory", severity).set(count)
