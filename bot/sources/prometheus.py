"""The Prometheus source: a fixed set of cluster-wide PromQL queries per snapshot.

Works with any PromQL API (Prometheus, Thanos, Mimir, VictoriaMetrics) through
prometheus-api-client. Queries go as POST (long `or` chains overflow URL limits on some
proxies) with an explicit timeout (the library's default is none) and run concurrently,
since they are independent and Prometheus answers them in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from bot.model import ContainerMemory, ContainerRef, History, PodName, Profile, Series, Snapshot
from bot.promql import CADVISOR_FIGURES, SOURCE_LABEL, QueryBuilder, Scope, range_step_seconds
from bot.settings import Settings
from bot.sources.base import SourceError
from bot.workloads import guess_workload

Row = dict[str, Any]
POD_LEVEL_ANSWERS = ("node", "owner", "labels")
# Queries per snapshot run side by side; more would only queue inside Prometheus.
PARALLEL_QUERIES = 4


class PrometheusSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.prometheus_url
        self.queries = QueryBuilder(settings.cluster_label)
        headers = dict(settings.prometheus_headers)
        if settings.prometheus_bearer_token is not None:
            headers["Authorization"] = (
                f"Bearer {settings.prometheus_bearer_token.get_secret_value()}"
            )
        auth = None
        if settings.prometheus_username is not None:
            password = settings.prometheus_password
            auth = (settings.prometheus_username, password.get_secret_value() if password else "")
        # One quick retry on connection resets and 502/503/504 from proxies; the check's own
        # schedule is the real retry loop, so a dead Prometheus fails fast and clearly.
        retry = Retry(
            total=1,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        )
        self._client = PrometheusConnect(
            url=self.url,
            headers=headers or None,
            disable_ssl=not settings.prometheus_tls_verify,
            retry=retry,
            auth=auth,
            timeout=settings.prometheus_timeout_seconds,
            method="POST",
        )

    # --- the MemorySource interface ------------------------------------------------------

    def plan(self, scope: Scope, *, oom_window_seconds: float | None = None) -> dict[str, str]:
        """The instant queries of one snapshot, by figure: constant in number at any size."""
        q, s = self.queries, self.settings
        oom_window = oom_window_seconds or s.oom_lookback_seconds
        plan: dict[str, str] = {
            figure: q.figure(metric, scope) for figure, metric in CADVISOR_FIGURES.items()
        }
        return plan | {
            "working_set_floor": q.working_set_floor(s.for_duration_seconds, scope),
            "growth": q.working_set_growth(s.trend_window_seconds, scope),
            "limit": q.limits(scope),
            "request": q.requests(scope),
            "restarts": q.restarts(scope),
            "restarted": q.restarted_within(s.trend_window_seconds, scope),
            "node": q.pod_nodes(scope),
            "owner": q.pod_owners(scope),
            "labels": q.pod_labels(scope),
            "restart_increase": q.restart_increase(oom_window, scope),
            "last_terminated_oom": q.last_terminated_oom(scope),
            "last_terminated_at": q.last_terminated_at(scope),
            "oom_events": q.oom_events(oom_window, scope),
        }

    def snapshot(
        self, at: datetime, scope: Scope, *, oom_window_seconds: float | None = None
    ) -> Snapshot:
        plan = self.plan(scope, oom_window_seconds=oom_window_seconds)
        with ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
            futures = {name: pool.submit(self._instant, query, at) for name, query in plan.items()}
            answers = {name: future.result() for name, future in futures.items()}
        return Snapshot(evaluated_at=at, containers=self._assemble(answers))

    def pods(self, at: datetime, scope: Scope) -> list[PodName]:
        rows = self._instant(self.queries.pods(scope), at)
        return sorted({name for row in rows if (name := self._pod(row)) is not None})

    def profiles(
        self, at: datetime, scope: Scope, *, window_seconds: float, step_seconds: float
    ) -> dict[ContainerRef, Profile]:
        q = self.queries
        with ThreadPoolExecutor(2) as pool:
            p95 = pool.submit(
                self._instant, q.working_set_quantile(0.95, window_seconds, step_seconds, scope), at
            )
            peak = pool.submit(
                self._instant, q.working_set_peak(window_seconds, step_seconds, scope), at
            )
            p95_rows, peak_rows = p95.result(), peak.result()
        peaks = {
            ref: value
            for row in peak_rows
            if (ref := self._ref(row)) is not None
            and (value := _number(row.get("value", [None, None])[1])) is not None
        }
        found: dict[ContainerRef, Profile] = {}
        for row in p95_rows:
            ref, value = self._ref(row), _number(row.get("value", [None, None])[1])
            if ref is not None and value is not None and ref in peaks:
                found[ref] = Profile(p95_bytes=round(value), peak_bytes=round(peaks[ref]))
        return found

    def history(self, scope: Scope, start: datetime, end: datetime) -> History:
        step = range_step_seconds((end - start).total_seconds())
        rows = self._call(
            lambda: self._client.custom_query_range(
                self.queries.history(scope), start, end, f"{step:.0f}s"
            )
        )
        series = []
        for row in rows:
            ref = self._ref(row)
            figure = row["metric"].get(SOURCE_LABEL)
            if ref is None or figure is None:
                continue
            points = tuple(
                (float(ts), value)
                for ts, text in row.get("values", [])
                if (value := _number(text)) is not None
            )
            series.append(Series(ref, figure, points))
        return History(start=start, end=end, step_seconds=step, series=tuple(series))

    # --- translation ---------------------------------------------------------------------

    def _assemble(self, answers: dict[str, list[Row]]) -> tuple[ContainerMemory, ...]:
        by_figure: dict[str, dict[ContainerRef, float]] = {}
        limit_sources: dict[ContainerRef, str] = {}
        for name, rows in answers.items():
            if name in POD_LEVEL_ANSWERS:
                continue
            values: dict[ContainerRef, float] = {}
            for row in rows:
                ref, value = self._ref(row), _number(row.get("value", [None, None])[1])
                if ref is None or value is None:
                    continue
                values[ref] = value
                if name == "limit":
                    limit_sources[ref] = row["metric"].get(SOURCE_LABEL, "")
            by_figure[name] = values
        nodes = {self._pod(row): row["metric"].get("node") for row in answers.get("node", [])}
        owners = {
            self._pod(row): guess_workload(row["metric"]["owner_kind"], row["metric"]["owner_name"])
            for row in answers.get("owner", [])
            if row["metric"].get("owner_kind") not in (None, "", "<none>")
            and row["metric"].get("owner_name")
        }
        labels: dict[PodName | None, tuple[tuple[str, str], ...]] = {}
        for row in answers.get("labels", []):
            found = {
                key.removeprefix("label_"): value
                for key, value in row["metric"].items()
                if key.startswith("label_")
            }
            labels[self._pod(row)] = tuple(
                sorted({**dict(labels.get(self._pod(row), ())), **found}.items())
            )
        refs = set().union(
            *(by_figure[name].keys() for name in ("working_set", "limit", "request"))
        )

        def whole(figure: str, ref: ContainerRef) -> int | None:
            value = by_figure[figure].get(ref)
            return None if value is None else round(value)

        return tuple(
            ContainerMemory(
                ref=ref,
                working_set_bytes=whole("working_set", ref),
                working_set_floor_bytes=whole("working_set_floor", ref),
                usage_bytes=whole("usage", ref),
                rss_bytes=whole("rss", ref),
                cache_bytes=whole("cache", ref),
                swap_bytes=whole("swap", ref),
                limit_bytes=whole("limit", ref),
                request_bytes=whole("request", ref),
                restarts=whole("restarts", ref),
                growth_bytes_per_second=(
                    None if by_figure["restarted"].get(ref) else by_figure["growth"].get(ref)
                ),
                limit_source=limit_sources.get(ref),
                node=nodes.get(ref.pod_name),
                workload=owners.get(ref.pod_name),
                pod_labels=labels.get(ref.pod_name, ()),
                restarts_in_window=whole("restart_increase", ref),
                last_terminated_oom=bool(by_figure["last_terminated_oom"].get(ref)),
                last_terminated_at=by_figure["last_terminated_at"].get(ref),
                oom_events_in_window=whole("oom_events", ref),
            )
            for ref in sorted(refs)
        )

    def _cluster(self, row: Row) -> str:
        return str(row["metric"].get(self.settings.cluster_label, ""))

    def _pod(self, row: Row) -> PodName | None:
        labels = row.get("metric", {})
        if "namespace" not in labels or "pod" not in labels:
            return None
        return PodName(self._cluster(row), labels["namespace"], labels["pod"])

    def _ref(self, row: Row) -> ContainerRef | None:
        labels = row.get("metric", {})
        try:
            return ContainerRef(
                self._cluster(row), labels["namespace"], labels["pod"], labels["container"]
            )
        except KeyError:
            return None

    # --- transport -----------------------------------------------------------------------

    def _instant(self, query: str, at: datetime) -> list[Row]:
        return self._call(
            lambda: self._client.custom_query(query, params={"time": f"{at.timestamp():.3f}"})
        )

    def _call(self, send: Callable[[], Any]) -> list[Row]:
        try:
            result = send()
        except requests.Timeout:
            raise SourceError(
                f"Prometheus at {self.url} did not answer within "
                f"{self.settings.prometheus_timeout_seconds:g} s (prometheus_timeout_seconds)"
            ) from None
        except requests.ConnectionError:
            raise SourceError(
                f"cannot reach Prometheus at {self.url}: is the URL right and the server up?"
            ) from None
        except requests.JSONDecodeError:
            raise SourceError(
                f"{self.url} answered, but not with JSON: is it the PromQL API "
                "(with any path prefix, e.g. /prometheus)?"
            ) from None
        except PrometheusApiClientException as error:
            raise SourceError(_explain_status(self.url, str(error))) from None
        except (KeyError, TypeError):
            raise SourceError(
                f"{self.url} answered with JSON that is not a PromQL API response"
            ) from None
        if not isinstance(result, list) or not all(isinstance(row, dict) for row in result):
            raise SourceError(f"{self.url} answered with a result that is not a vector")
        return result

    def close(self) -> None:
        self._client.close()


def _number(text: object) -> float | None:
    """Prometheus sends sample values as strings; NaN and ±Inf mean 'no usable value'."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _explain_status(url: str, detail: str) -> str:
    if "401" in detail or "403" in detail:
        return (
            f"Prometheus at {url} refused the request ({detail[:80]}): check "
            "prometheus_bearer_token, prometheus_username/password or prometheus_headers"
        )
    if "404" in detail:
        return f"{url} has no PromQL API at /api/v1/query: check the path prefix ({detail[:80]})"
    return f"Prometheus at {url} failed the query: {detail[:300]}"
