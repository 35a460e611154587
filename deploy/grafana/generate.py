"""Generates deploy/grafana/podmem.json, the one-container dashboard, with Grafana's
foundation SDK (dashboards as code; a dev-time dependency, not the bot's).

    python -m deploy.grafana.generate --write     # from the repository root

The queries are podmem's own (bot.promql): the same de-duplication (`max by`, no pod-level
or pause rows), the same limit and request sources (kube-state-metrics v2, v1, cAdvisor) and
the same derived figures as the bot's alerts, so the graph shows what the alert said. A test
fails when the committed JSON differs from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as grafana
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from bot.promql import (
    CADVISOR_FIGURES,
    CADVISOR_ONLY,
    LAST_FINISHED,
    LAST_REASON,
    RESTARTS,
    SOURCE_LABEL,
    QueryBuilder,
    Scope,
)
from bot.settings import Settings

HERE = Path(__file__).parent
OUTPUT = HERE / "podmem.json"
UID = "podmem-container"
# The variables grafana_url_template fills in (its description's example links here).
VARIABLES = ("cluster", "namespace", "pod", "container")
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
# A kill is a step of a counter or a new termination time: looked for in windows of two
# annotation steps.
KILL_WINDOW = "2m"


class _Picked(Scope):
    """The one container Grafana's variables pick (cluster may be "All": one unnamed
    cluster has no cluster label at all)."""

    def matchers(self) -> str:
        return 'cluster=~"$cluster", namespace="$namespace", pod="$pod", container="$container"'


PICKED = _Picked()
QUERIES = QueryBuilder("cluster")


def memory_targets() -> dict[str, str]:
    """Legend: PromQL, the figures of podmem's breakdown for one container."""
    q = QUERIES

    def figure(name: str) -> str:
        return q.figure(CADVISOR_FIGURES[name], PICKED)

    working_set, rss, usage = figure("working_set"), figure("rss"), figure("usage")
    return {
        "working set": working_set,
        "RSS": rss,
        # As podmem's breakdown: working set = RSS + active cache; usage = it + idle cache.
        "active cache": f"clamp_min({working_set} - {rss}, 0)",
        "reclaimable cache": f"clamp_min({usage} - {working_set}, 0)",
        "usage": usage,
        f"limit ({{{{{SOURCE_LABEL}}}}})": q.limits(PICKED),
        "request": q.requests(PICKED),
    }


def ratio_target() -> str:
    q = QUERIES
    working_set = q.figure(CADVISOR_FIGURES["working_set"], PICKED)
    return f"{working_set} / on({q.group}) ({q.limits(PICKED)})"


def kill_annotations() -> dict[str, tuple[str, str, str]]:
    """Name: (PromQL, colour, title) of each kind of kill, one annotation per kill."""
    q = QUERIES

    def changed(metric: str, matchers: str) -> str:
        selector = q.select(metric, PICKED, matchers)
        return q.per_container(f"changes({selector}[{KILL_WINDOW}])") + " > 0"

    def newest(matchers: str) -> str:
        return q.per_container(f"timestamp({q.select('', PICKED, matchers)})")

    # When the container ended: its last termination's time changed (kube-state-metrics
    # >= 2.9), else its restart count did (later: after the crash-loop back-off).
    # The first termination is the series appearing, which changes() does not see.
    finished = q.per_container(q.select("", PICKED, LAST_FINISHED))
    finished_before = q.per_container(
        q.select("", PICKED, LAST_FINISHED) + f" offset {KILL_WINDOW}"
    )
    ended = (
        f"({changed('', LAST_FINISHED)}) "
        f"or on({q.group}) ({finished} unless on({q.group}) {finished_before}) "
        f"or on({q.group}) (({changed('', RESTARTS)}) unless on({q.group}) {finished})"
    )
    # The newest reason, not any reason == 1: a replaced reason's series lingers until
    # stale (backfill, remote write, a second kube-state-metrics), and would turn an Error
    # end after an OOM kill into another kill.
    oom_reason = f'{LAST_REASON}, reason="OOMKilled"'
    oom_is_newest = f"{newest(oom_reason)} >= on({q.group}) {newest(LAST_REASON)}"
    return {
        "OOM kills": (
            f"({ended}) and on({q.group}) ({oom_is_newest})",
            "red",
            "OOMKilled: {{container}}",
        ),
        # The kernel killed a process in the cgroup and the container lived on (a worker).
        "Process OOM kills": (
            f"({changed('container_oom_events_total', CADVISOR_ONLY)}) "
            f"unless on({q.group}) ({ended})",
            "orange",
            "process OOM kill in {{container}}",
        ),
    }


class _PrometheusAnnotation(model.AnnotationQuery):
    """The SDK's AnnotationQuery has `expr` but not the Prometheus annotation's own keys."""

    def __init__(self, *, step: str, title_format: str, **fields: Any) -> None:
        super().__init__(**fields)
        self.step, self.title_format = step, title_format

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "step": self.step,
            "titleFormat": self.title_format,
            "textFormat": "{{namespace}}/{{pod}}",
            "useValueForTime": False,
        }


class _AnnotationBuilder(grafana.AnnotationQuery):
    def __init__(self, built: _PrometheusAnnotation) -> None:
        super().__init__()
        self._internal = built


def _variable(name: str, label: str, query: str, *, all_value: str | None = None) -> Any:
    variable = (
        grafana.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if all_value is not None:
        variable = variable.include_all(True).all_value(all_value)
    return variable


def build() -> dict[str, Any]:
    defaults = Settings.model_fields
    warning = float(defaults["warning_ratio"].default)
    critical = float(defaults["critical_ratio"].default)
    ws = CADVISOR_FIGURES["working_set"]
    memory = (
        timeseries.Panel()
        .title("Memory: $namespace/$pod · $container")
        .description(
            "OOM kills follow the working set (RSS + active cache), not usage: reclaimable "
            "cache is freed before the kernel kills. Limit and request come from "
            "kube-state-metrics (v2 or v1), else cAdvisor, as podmem reads them."
        )
        .datasource(DATASOURCE)
        .unit("bytes")
        .min(0)
        .height(12)
        .span(24)
        .fill_opacity(0)
        .line_width(2)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    for index, (legend, expr) in enumerate(memory_targets().items()):
        memory = memory.with_target(
            prometheus.Dataquery()
            .expr(expr)
            .legend_format(legend)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
        )
    ratio = (
        timeseries.Panel()
        .title("Working set / limit")
        .description(
            f"podmem's verdict: warning at {warning:.0%}, critical at {critical:.0%} "
            "(the defaults of warning_ratio and critical_ratio)."
        )
        .datasource(DATASOURCE)
        .unit("percentunit")
        .min(0)
        .max(1)
        .height(8)
        .span(24)
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
        .thresholds(
            grafana.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    model.Threshold(value=None, color="green"),
                    model.Threshold(value=warning, color="orange"),
                    model.Threshold(value=critical, color="red"),
                ]
            )
        )
        .with_target(
            prometheus.Dataquery()
            .expr(ratio_target())
            .legend_format("working set / limit")
            .ref_id("A")
            .datasource(DATASOURCE)
        )
    )
    board = (
        grafana.Dashboard("podmem · container memory")
        .uid(UID)
        .tags(["podmem", "kubernetes", "memory"])
        .description(
            "One container's memory as podmem judges it. podmem's alerts link here through "
            "grafana_url_template."
        )
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            grafana.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_variable(
            _variable("cluster", "cluster", f"label_values({ws}, cluster)", all_value=".*")
        )
        .with_variable(
            _variable(
                "namespace", "namespace", f'label_values({ws}{{cluster=~"$cluster"}}, namespace)'
            )
        )
        .with_variable(
            _variable(
                "pod",
                "pod",
                f'label_values({ws}{{cluster=~"$cluster", namespace="$namespace"}}, pod)',
            )
        )
        .with_variable(
            _variable(
                "container",
                "container",
                f'label_values({ws}{{cluster=~"$cluster", namespace="$namespace", '
                f'pod="$pod", {CADVISOR_ONLY}}}, container)',
            )
        )
        .with_panel(memory)
        .with_panel(ratio)
    )
    for name, (expr, colour, title) in kill_annotations().items():
        board = board.annotation(
            _AnnotationBuilder(
                _PrometheusAnnotation(
                    name=name,
                    datasource=DATASOURCE,
                    enable=True,
                    icon_color=colour,
                    expr=expr,
                    step="1m",
                    title_format=title,
                )
            )
        )
    encoded: dict[str, Any] = json.loads(JSONEncoder().encode(board.build()))
    return encoded


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        OUTPUT.write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
