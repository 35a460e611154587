"""The Prometheus source: a fixed set of cluster-wide PromQL queries per snapshot.

Works with any PromQL API (Prometheus, Thanos, Mimir, VictoriaMetrics) through
prometheus-api-client. Queries go as POST (long `or` chains overflow URL limits on some
proxies) with an explicit timeout (the library's default is none) and run concurrently,
since they are independent and Prometheus answers them in parallel.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from bot.analysis import Thresholds
from bot.deadline import remaining
from bot.errors import SourceError
from bot.model import (
    ContainerCounts,
    ContainerMemory,
    ContainerRef,
    History,
    NamespaceCounts,
    PodName,
    Profile,
    Series,
    Snapshot,
    Termination,
)
from bot.oom import terminations_in
from bot.promql import (
    ABOVE_FLOOR_LABEL,
    ANNOTATION_LABELS,
    CADVISOR_FIGURES,
    CLUSTER_WIDE,
    EXACT_LABEL,
    FIGURE_LABEL,
    OWNER_POD_LABEL,
    SOURCE_LABEL,
    QueryBuilder,
    Scope,
    range_step_seconds,
)
from bot.settings import Settings
from bot.sources.base import DigestAnswer, DigestAsk, NodeMemory
from bot.sources.collector import paused_collection
from bot.sources.prometheus_http import form_body, prometheus_session, tls_problem
from bot.workloads import guess_workload, workload_label

Row = dict[str, Any]
POD_LEVEL_ANSWERS = ("node", "owner", "labels", "annotations", "evicted")
# What a check fetches of every candidate pod: what a verdict, a route, a storm and the
# replica count are decided from. Usage, stalling and the trend come from the first round,
# where they can change a verdict (usage pinned near the limit, stalled past the thrashing
# ratio, racing to the limit); elsewhere they change only what a message says.
JUDGING_FIGURES = (
    "working_set",
    "limit",
    "working_set_floor",
    "rss",  # with swap: a full container whose memory is mostly cache is warning, not critical
    "swap",
    "started",  # a trend needs an established container
    "restarted",  # ... and one that did not restart within the trend window
    "node",
    "owner",
    "labels",
)
# The rest of the breakdown: fetched with the judging figures for the pods with news (a
# kill, an eviction, a worker process killed: their notices are decided from these), and
# later for the containers a cycle's notices show (CheckResult.partial).
BREAKDOWN_FIGURES = (
    "usage",
    "growth",
    "request",
    "cache",
    "restarts",
    "stalled",
    "oom_events_total",
    "last_working_set",
)
# Answers of a check's first round that hold for its candidates as they are (cluster-wide,
# or exactly where they matter): not asked again per pod.
FIRST_ROUND_FIGURES = (
    "restart_increase",
    "annotations",
    "oom_events",
    "evicted",
    "usage",
    "stalled",
    "time_to_limit",
)
# Pods with news: every figure of theirs is fetched with the judging ones.
NEWS_FIGURES = ("restart_increase", "oom_events", "evicted")
# Candidate pods per query of a check's detail round: a bounded regex, a bounded answer,
# and several such queries side by side when an incident makes many pods candidates.
DETAIL_BATCH = 400
# A check's counts of every container: rows with no pod, one number each.
COUNT_FIGURES = ("with_working_set", "without_limit", "without_working_set")
# The digest's counts per (cluster, namespace), from which ContainerCounts' three and the
# top list's are worked out (QueryBuilder.namespace_counts).
NAMESPACE_COUNT_FIGURES = ("ns_with_working_set", "ns_with_limit", "ns_compared")
# Candidates of a check: answers whose rows name containers (or pods) that may matter.
CANDIDATE_FIGURES = (
    "near",
    "usage",  # usage pinned near the limit: cache-heavy, whatever the working set
    "restart_increase",
    "oom_events",
    "stalled",
    "time_to_limit",
)
# Always few rows: restarts and OOM signals (filtered to the containers that have them).
SPARSE_FIGURES = {
    "kube_state_metrics",
    "annotations",
    "evicted",
    "restarted",
    "restart_increase",
    "oom_events",
}
# Figures that stay floats (a rate, a Unix time); the rest are bytes or counts.
FRACTIONAL_FIGURES = ("growth", "time_to_limit", "stalled")
Key = tuple[str, str, str, str]
# One answer on its way: {figure: {key: value}}.
Answer = Future[dict[str, dict[Key, Any]]]
IGNORE = "podmem.io/ignore"
OWNER = "podmem.io/owner"
OWNER_BY_LABEL = "label:podmem.io/owner"  # the same, from a pod label: the annotation wins
THRESHOLD_ANNOTATIONS = ("podmem.io/warning", "podmem.io/critical")
# A Slack user (U…, W…) or user group (S…) ID: anything else (`<!channel>`) is not mentioned.
SLACK_ID = re.compile(r"[UWS][A-Z0-9]{2,20}")


def slack_id(text: str | None) -> str | None:
    return text if text is not None and SLACK_ID.fullmatch(text) else None


NO_KUBE_STATE_METRICS = (
    "no kube-state-metrics series (kube_pod_info) in Prometheus: limits come from cAdvisor, "
    "requests are unknown, and OOM kills need the Kubernetes API (kubernetes: auto)"
)
# An answer is read in pieces this big, the deadline checked between them.
CHUNK_BYTES = 256 * 1024
# Queries per snapshot run side by side; more would only queue inside Prometheus.
PARALLEL_QUERIES = 4
# The body `_post` sends is encoded already (form_body): requests adds no content type then.
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class PrometheusSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.prometheus_url
        self.queries = QueryBuilder(settings.cluster_label)
        self._strings: dict[str, str] = {}
        # Kept for the process's life: starting threads for every check costs ~10 ms.
        self._pool = ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="promql")
        # The queries of the last snapshot, round by round (diagnostics, the benchmark floor).
        self.last_rounds: list[list[str]] = []
        self.last_ranges: list[tuple[str, float, float, float]] = []
        # Rows of every instant answer so far (diagnostics: what the bot parses grows with
        # what it shows, not with the cluster).
        self.rows_received = 0
        self._counting = threading.Lock()
        # One quick retry on connection resets and 502/503/504 from proxies; the check's own
        # schedule is the real retry loop, so a dead Prometheus fails fast and clearly.
        retry = _bounded_retry(
            min(settings.prometheus_timeout_seconds, settings.retry_after_max_seconds)
        )(
            total=1,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        )
        # TLS, tenant headers and credentials: all on the session, the one place.
        self._session = prometheus_session(settings)
        self._client = PrometheusConnect(  # mounts the retry on the session
            url=self.url,
            session=self._session,
            retry=retry,
            timeout=settings.prometheus_timeout_seconds,
            method="POST",
        )

    # --- the MemorySource interface ------------------------------------------------------

    def plan(
        self,
        scope: Scope,
        *,
        oom_window_seconds: float | None = None,
        detail: bool = True,
        events: bool = True,
    ) -> dict[str, str]:
        """The instant queries of one snapshot, by figure: constant in number at any size.

        Without `detail` (a cluster-wide check), figures only a shown container needs are left
        out, and floor, usage and growth come only where the verdict can depend on them;
        `snapshot` then fetches the full figures for the few containers it will show.
        Without `events`, no evictions and worker-process kills: over the digest's day they
        are two scans of every pod's series for news the digest does not tell.
        """
        q, s = self.queries, self.settings
        oom_window = oom_window_seconds or s.oom_lookback_seconds
        sparse = {
            "restart_increase": q.restart_increase(oom_window, scope),
            "annotations": q.pod_annotations(scope),
        }
        if scope != CLUSTER_WIDE or not q.ksm_limit_clusters:
            # Cluster-wide, limits kube-state-metrics exports already prove it is scraped.
            sparse["kube_state_metrics"] = q.kube_state_metrics_present(scope)
        if events:
            sparse |= {
                "oom_events": q.oom_events(oom_window, scope),
                "evicted": q.evicted_pods(oom_window, scope),
            }
        if detail:
            # A restart in the trend window makes a trend unreliable: it softens a verdict,
            # never makes a candidate, so the cluster-wide round does not ask.
            sparse["restarted"] = q.restarted_within(s.trend_window_seconds, scope)
        if not detail:
            # The check's question, asked where the data is: which containers may be more
            # than ok (near the limit by the default thresholds, usage pinned there, racing
            # towards it, stalled on reclaim, restarted, OOM-killed, evicted, or with
            # thresholds of their own),
            # and how many there are in all. Every row that comes back is a candidate.
            return sparse | {
                "near": q.working_set_near_limit(Thresholds.from_settings(s).resolve_below, scope),
                "counts": q.container_counts(scope),
                "usage": q.usage_where_full(s.cache_heavy_usage_ratio, scope),
                "stalled": q.memory_stalled(scope, at_least=s.thrashing_stalled_ratio),
                "time_to_limit": q.time_to_limit_where_racing(
                    s.trend_window_seconds, s.critical_time_to_limit_seconds, scope
                ),
            }
        common = sparse | {
            "working_set": q.figure(CADVISOR_FIGURES["working_set"], scope),
            "limit": q.limits(scope),
        }
        figures = {
            figure: q.figure(metric, scope)
            for figure, metric in CADVISOR_FIGURES.items()
            if figure != "working_set"
        }
        return (
            common
            | figures
            | {
                "working_set_floor": q.working_set_floor(s.for_duration_seconds, scope),
                "growth": q.working_set_growth(s.trend_window_seconds, scope),
                "request": q.requests(scope),
                "restarts": q.restarts(scope),
                "node": q.pod_nodes(scope),
                "owner": q.pod_owners(scope),
            }
            | (
                # For the few pods a check shows or a report asks about. Cluster-wide (the
                # digest) they would cost a query of every container each, and a day of
                # samples for the last working set, for figures the digest does not show.
                {
                    "started": q.container_started(scope),
                    "stalled": q.memory_stalled(scope),
                    "oom_events_total": q.figure("container_oom_events_total", scope),
                    "last_working_set": q.last_working_set(oom_window, scope),
                }
                if scope != CLUSTER_WIDE
                else {}
            )
            | (
                # Pod labels only matter to routes that select on them: 20 000 rows saved if none.
                {"labels": q.pod_labels(scope)}
                if any(route.pod_labels for route in s.routes)
                else {}
            )
        )

    def snapshot(
        self,
        at: datetime,
        scope: Scope,
        *,
        oom_window_seconds: float | None = None,
        candidates: bool = False,
        watched: frozenset[PodName] = frozenset(),
        events: bool = True,
    ) -> Snapshot:
        """Every container in scope with all its figures; with `candidates` (a cluster-wide
        check), only those that may matter and the `watched` pods', with counts of all."""
        if candidates:
            return self._candidates(at, scope, watched=watched, events=events)
        if scope == CLUSTER_WIDE:
            self._start_cluster_wide(at)
        else:
            self.last_rounds, self.last_ranges = [], []
        plan = self.plan(scope, oom_window_seconds=oom_window_seconds, events=events)
        # Big answers go one per query, parsed in parallel; small ones share a query.
        small = set(plan) if scope != CLUSTER_WIDE else SPARSE_FIGURES & set(plan)
        answers = self._fetch(plan, at, bundle=sorted(small))
        if scope == CLUSTER_WIDE and not answers["working_set"]:
            raise self._no_working_set(at)
        notes = () if self._kube_state_metrics(answers, scope, at) else (NO_KUBE_STATE_METRICS,)
        containers = self._assemble(answers, self._keys(answers))
        return Snapshot(evaluated_at=at, containers=tuple(containers.values()), notes=notes)

    def _kube_state_metrics(
        self, answers: dict[str, dict[Key, Any]], scope: Scope, at: datetime
    ) -> bool:
        """Whether any kube-state-metrics is scraped. The scoped answer says so for the
        usual case (it describes the pods asked about); only without one is the whole
        cluster asked: a pod it does not describe (yet) is not proof that there is none.
        Cluster-wide, the limits it exports say so too (`_learn_limit_sources`)."""
        if scope == CLUSTER_WIDE:
            return self._kube_state_metrics_seen(answers)
        if answers["kube_state_metrics"]:
            return True
        query = self.queries.kube_state_metrics_present()
        self.last_rounds.append([query])
        return bool(self._instant(query, at))

    def _kube_state_metrics_seen(self, answers: dict[str, dict[Key, Any]]) -> bool:
        """A cluster-wide round's word on kube-state-metrics: its limits were found before
        the round, or (asked only when they were not) its pods."""
        return bool(self.queries.ksm_limit_clusters or answers.get("kube_state_metrics"))

    def _candidates(
        self, at: datetime, scope: Scope, *, watched: frozenset[PodName], events: bool
    ) -> Snapshot:
        """A check's two rounds (after the one-row question of `_learn_limit_sources`):
        which containers may matter, and how many there are (a few hundred rows and three
        numbers at any size); then those pods' every figure, a batch of pods per query."""
        self._start_cluster_wide(at)
        plan = self.plan(scope, detail=False, events=events)
        bundled = sorted(set(plan) - {"near", "counts"})
        answers = self._fetch(plan, at, bundle=bundled)
        counted = answers.get("counts", {})
        counts = ContainerCounts(
            *(int(counted.get(("", "", "", name), 0)) for name in COUNT_FIGURES)
        )
        if not counts.with_working_set:
            raise self._no_working_set(at)
        notes = () if self._kube_state_metrics_seen(answers) else (NO_KUBE_STATE_METRICS,)
        pods = self._candidate_pods(answers, watched)
        news = {(c, ns, pod) for f in NEWS_FIGURES for c, ns, pod, _ in answers.get(f, {})}
        detail = self._fetch_pods(pods, at, events=events, news=news)
        for figure in FIRST_ROUND_FIGURES:  # the pods with news have theirs in full
            detail[figure] = answers.get(figure, {}) | detail.get(figure, {})
        wanted = {(p.namespace, p.pod) for p in pods}
        keys = [key for key in self._keys(detail) if (key[1], key[2]) in wanted]
        containers = self._assemble(detail, keys)
        replicas = {
            (c, ns, workload): int(n)
            for (c, ns, workload, _), n in detail.get("replicas", {}).items()
        }
        return Snapshot(
            evaluated_at=at,
            containers=tuple(containers.values()),
            notes=notes,
            counts=counts,
            replicas=replicas,
            partial=True,
        )

    @staticmethod
    def _candidate_pods(
        answers: dict[str, dict[Key, Any]], watched: frozenset[PodName]
    ) -> list[PodName]:
        """The pods of every candidate row, the pods with thresholds of their own (their
        containers may be near by their own ratios), evicted pods and the watched."""
        found = set(watched)
        for figure in (*CANDIDATE_FIGURES, "evicted"):
            found |= {PodName(c, ns, pod) for c, ns, pod, _ in answers.get(figure, {})}
        for (c, ns, pod, _), said in answers.get("annotations", {}).items():
            if any(name in THRESHOLD_ANNOTATIONS for name, _ in said):
                found.add(PodName(c, ns, pod))
        return sorted(found)

    def breakdown(
        self, at: datetime, pods: Sequence[tuple[str, str]]
    ) -> tuple[ContainerMemory, ...]:
        """Every figure of these (namespace, pod)s' containers, a bundled query per
        DETAIL_BATCH pods side by side: the rest of a check's work (its rounds go on)."""
        plans = []
        for i in range(0, len(pods), DETAIL_BATCH):
            plan = self.plan(Scope(pods=tuple(pods[i : i + DETAIL_BATCH])), events=False)
            del plan["kube_state_metrics"]
            plans.append(plan)
        answers = self._fetch_bundles(plans, at)
        wanted = set(pods)
        keys = [key for key in self._keys(answers) if (key[1], key[2]) in wanted]
        return tuple(self._assemble(answers, keys).values())

    def _fetch_pods(
        self, pods: list[PodName], at: datetime, *, events: bool, news: set[tuple[str, str, str]]
    ) -> dict[str, dict[Key, Any]]:
        """The judging figures of these pods, the whole breakdown of those with `news`
        ((cluster, namespace, pod)), and their workloads' replica counts: one bundled query
        per DETAIL_BATCH pods, side by side."""
        plans = []
        for i in range(0, len(pods), DETAIL_BATCH):
            chunk = pods[i : i + DETAIL_BATCH]
            batch = _scope(chunk)
            every = self.plan(batch, events=events)
            plan = {name: every[name] for name in JUDGING_FIGURES if name in every}
            eventful = [p for p in chunk if (p.cluster, p.namespace, p.pod) in news]
            if eventful:
                more = self.plan(_scope(eventful), events=events)
                plan |= {name: more[name] for name in BREAKDOWN_FIGURES if name in more}
            # Their workloads, counted over their namespaces: the check's "3 of 5 replicas".
            plan["replicas"] = self.queries.replica_counts(batch)
            plans.append(plan)
        return self._fetch_bundles(plans, at)

    def digest_snapshot(self, at: datetime, ask: DigestAsk) -> DigestAnswer:
        """The digest's two rounds (after `_learn_limit_sources`). One: the check's
        candidates over the day, each namespace's counts and top rows of the top and no-limit
        lists, and the pods of the workloads right-sizing may have a finding for (side by
        side). Two: those pods' every figure, and the right-sizing pods' profiles, a batch of
        pods per query."""
        q = self.queries
        self._start_cluster_wide(at)
        plan = self.plan(
            CLUSTER_WIDE, detail=False, events=False, oom_window_seconds=ask.window_seconds
        )
        del plan["counts"]  # the per-namespace counts below say it, channel by channel
        plan |= {
            "namespace_counts": q.namespace_counts(ask.floor),
            "top_rows": q.top_rows(ask.rows, ask.floor, per_namespace=ask.per_namespace),
            "no_limit_rows": q.no_limit_rows(ask.rows, per_namespace=ask.per_namespace),
        }
        sizing_pods = q.rightsizing_pods(
            headroom=ask.headroom,
            min_freed_bytes=ask.min_freed_bytes,
            window_seconds=ask.profile_window_seconds,
            step_seconds=ask.profile_step_seconds,
            killed_within_seconds=ask.window_seconds,
        )
        self.last_rounds.append([sizing_pods])
        # Its rows are the pods with their workloads: an "owner" answer.
        asking = self._pool.submit(self._values, "owner", sizing_pods, at)
        bundled = sorted(set(plan) - {"near", "namespace_counts"})
        answers = self._fetch(plan, at, bundle=bundled)
        namespaces = self._namespace_counts(answers.get("namespace_counts", {}))
        if not any(n.containers.with_working_set for n in namespaces.values()):
            raise self._no_working_set(at)
        notes = () if self._kube_state_metrics_seen(answers) else (NO_KUBE_STATE_METRICS,)
        pods = set(self._candidate_pods(answers, frozenset()))
        for figure in ("top_rows", "no_limit_rows"):
            pods |= {PodName(c, ns, pod) for c, ns, pod, _ in answers.get(figure, {})}
        shown = sorted(pods)
        # Round two starts with what round one's quick answers name, while right-sizing's
        # question (the longest) is still evaluated: every figure of the pods the digest may
        # name, and the day's terminations of the containers round one saw restart (asked of
        # every container, the range query would select them all at each of its 720 steps).
        named = self._submit_bundles(self._shown_plans(shown, ask), at)
        restarted = sorted({PodName(c, ns, pod) for c, ns, pod, _ in answers["restart_increase"]})
        since = at - timedelta(seconds=ask.window_seconds)
        ended = [
            self._pool.submit(copy_context().run, self.terminations, batch, since, at)
            for batch in _batches(restarted)
        ]
        # Then, of the right-sizing pods, only what right-sizing reads (request and limit;
        # their workloads came with them) and their profiles. A finding's workload may have
        # hundreds of replicas.
        try:
            owners = asking.result().get("owner", {})
            sized = {PodName(c, ns, pod) for c, ns, pod, _ in owners}
            sizing_only = sorted(sized - pods)
            sizing_detail = _merged(
                self._submit_bundles(self._sizing_plans(sizing_only, sorted(sized), ask), at)
            )
            only = {(p.cluster, p.namespace, p.pod) for p in sizing_only}
            sizing_detail["owner"] = {k: v for k, v in owners.items() if k[:3] in only}
            error = None
        except SourceError as failure:
            # Right-sizing is the heaviest part; without it the digest still says the rest.
            sized, sizing_only, sizing_detail, error = set(), [], {}, str(failure)
        detail = _merged(named)
        for name, values in sizing_detail.items():
            detail.setdefault(name, {}).update(values)
        wanted = {(p.namespace, p.pod) for p in shown}
        lean = {(p.namespace, p.pod) for p in sizing_only}
        keys = self._keys(detail)
        containers = self._assemble(detail, [k for k in keys if (k[1], k[2]) in wanted])
        sizing = self._assemble(detail, [k for k in keys if (k[1], k[2]) in lean])
        peaks = detail.get("peak", {})
        in_sizing = {(p.cluster, p.namespace, p.pod) for p in sized}
        profiles = {
            ContainerRef(*key): Profile(p95_bytes=value, peak_bytes=peaks[key])
            for key, value in detail.get("p95", {}).items()
            if key in peaks and key[:3] in in_sizing
        }
        counts = ContainerCounts(
            *(
                sum(getattr(n.containers, name) for n in namespaces.values())
                for name in COUNT_FIGURES
            )
        )
        return DigestAnswer(
            snapshot=Snapshot(
                evaluated_at=at, containers=tuple(containers.values()), notes=notes, counts=counts
            ),
            namespaces=namespaces,
            profiles=None if error else profiles,
            profile_error=error,
            sizing=tuple(sizing.values()),
            terminations=tuple(t for future in ended for t in future.result()),
        )

    @staticmethod
    def _namespace_counts(counted: dict[Key, Any]) -> dict[tuple[str, str], NamespaceCounts]:
        found: dict[tuple[str, str], dict[str, int]] = {}
        for (cluster, namespace, _, figure), n in counted.items():
            found.setdefault((cluster, namespace), {})[figure] = int(n)
        counts = {}
        for where, said in found.items():
            above = said.get("ns_compared_1", 0)
            both = above + said.get("ns_compared_0", 0)  # a working set and a limit
            with_working_set = said.get("ns_with_working_set", 0)
            counts[where] = NamespaceCounts(
                ContainerCounts(
                    with_working_set=with_working_set,
                    without_limit=with_working_set - both,
                    without_working_set=said.get("ns_with_limit", 0) - both,
                ),
                above_floor=above,
            )
        return counts

    def _no_working_set(self, at: datetime) -> SourceError:
        return SourceError(
            f"Prometheus at {self.url} has no cAdvisor working-set series "
            f"(container_memory_working_set_bytes) at {at:%Y-%m-%d %H:%M:%S} UTC: check that "
            "it scrapes the kubelet's /metrics/cadvisor (kube-prometheus's job "
            '"kubelet", metrics_path /metrics/cadvisor) and that --at is inside its data'
        )

    def _fetch_bundles(
        self, plans: list[dict[str, str]], at: datetime
    ) -> dict[str, dict[Key, Any]]:
        """Each plan as one bundled query, all side by side; the answers merged by figure."""
        return _merged(self._submit_bundles(plans, at))

    def _submit_bundles(self, plans: list[dict[str, str]], at: datetime) -> list[Answer]:
        """Each plan as one bundled query, submitted side by side; not waited for."""
        queries = [self.queries.bundle(plan) for plan in plans]
        if queries:
            self.last_rounds.append(queries)
        return [
            self._pool.submit(copy_context().run, self._values, "bundle", q, at) for q in queries
        ]

    def _shown_plans(self, shown: list[PodName], ask: DigestAsk) -> list[dict[str, str]]:
        """Every figure of the pods a digest may name, a batch of pods per plan."""
        plans = []
        for batch in _batches(shown):
            plan = self.plan(batch, events=False, oom_window_seconds=ask.window_seconds)
            del plan["kube_state_metrics"]
            plans.append(plan)
        return plans

    def _sizing_plans(
        self, sizing_only: list[PodName], sized: list[PodName], ask: DigestAsk
    ) -> list[dict[str, str]]:
        """What right-sizing reads of the pods it may size that the digest does not name
        anyway (request, limit), and every sized pod's profile over the window."""
        q = self.queries
        window, step = ask.profile_window_seconds, ask.profile_step_seconds
        plans = [
            {"request": q.requests(batch), "limit": q.limits(batch)}
            for batch in _batches(sizing_only)
        ]
        plans += [
            {
                "p95": q.working_set_quantile(0.95, window, step, batch),
                "peak": q.working_set_peak(window, batch),
            }
            for batch in _batches(sized)
        ]
        return plans

    def _fetch(
        self, plan: dict[str, str], at: datetime, *, bundle: Iterable[str] = ()
    ) -> dict[str, dict[Key, Any]]:
        """Run the plan; the figures named in `bundle` share one query (pod-level and
        container-level rows alike: each row carries its figure), the rest one query each."""
        bundled = [name for name in bundle if name in plan]
        queries = {name: query for name, query in plan.items() if name not in bundled}
        if bundled:
            queries["bundle"] = self.queries.bundle({n: plan[n] for n in bundled})
        self.last_rounds.append(list(queries.values()))
        # Each answer is boiled down to {key: value} in the thread that fetched it, so at most
        # PARALLEL_QUERIES raw answers are alive at once: peak memory stays flat with size.
        futures = [
            self._pool.submit(copy_context().run, self._values, name, q, at)
            for name, q in queries.items()
        ]
        answers: dict[str, dict[Key, Any]] = {name: {} for name in plan}
        for future in futures:
            for name, values in future.result().items():
                if name in answers:  # a row tagged with no figure we asked for is noise
                    answers[name] |= values
        return answers

    def closest_to_limit(self, at: datetime, scope: Scope, count: int) -> list[ContainerRef]:
        rows = self._instant(self.queries.closest_to_limit(count, scope), at)
        ranked = sorted(
            (-value, ref)
            for row in rows
            if (ref := self._ref(row)) is not None
            and (value := _number(row.get("value", (None, None))[1])) is not None
        )
        return [ref for _, ref in ranked]

    def _start_cluster_wide(self, at: datetime) -> None:
        """A cluster-wide snapshot begins: its rounds are recorded afresh; the names interned
        so far are let go (pods come and go: kept for the process's life, every pod name
        ever seen would be); and the limit sources are learnt."""
        self.last_rounds, self.last_ranges = [], []
        self._strings = {}  # rebound, not cleared: a report reading the old one keeps it
        self._learn_limit_sources(at)

    def _learn_limit_sources(self, at: datetime) -> None:
        """Before a cluster-wide round: which clusters' kube-state-metrics export limits, so
        that every comparison with the limit asks cAdvisor's of the others only. A round of
        its own, one row per cluster; asked each time, so a kube-state-metrics that comes or
        goes changes the next check, not a cached belief."""
        query = self.queries.ksm_limit_clusters_query()
        self.last_rounds.append([query])
        label = self.settings.cluster_label
        found = {str((row.get("metric") or {}).get(label, "")) for row in self._instant(query, at)}
        self.queries.ksm_limit_clusters = frozenset(found)

    def pods(self, at: datetime, scope: Scope) -> list[PodName]:
        rows = self._instant(self.queries.pods(scope), at)
        return sorted({name for row in rows if (name := self._pod(row)) is not None})

    def profiles(
        self, at: datetime, scope: Scope, *, window_seconds: float, step_seconds: float
    ) -> dict[ContainerRef, Profile]:
        q = self.queries
        self.last_rounds = []
        answers = self._fetch(
            {
                "p95": q.working_set_quantile(0.95, window_seconds, step_seconds, scope),
                "peak": q.working_set_peak(window_seconds, scope),
            },
            at,
        )
        peaks = answers["peak"]
        return {
            ContainerRef(*key): Profile(p95_bytes=value, peak_bytes=peaks[key])
            for key, value in answers["p95"].items()
            if key in peaks
        }

    def terminations(self, scope: Scope, start: datetime, end: datetime) -> list[Termination]:
        """Every termination of the scoped containers in [start, end], from the history of
        kube-state-metrics' restart counter, last-termination time and reason. Many named
        pods are asked DETAIL_BATCH at a time, side by side (a bounded regex each)."""
        if len(scope.pods) > DETAIL_BATCH:
            named = [PodName("", ns, pod) for ns, pod in scope.pods]
            asked = [
                self._pool.submit(copy_context().run, self._terminations, batch, start, end)
                for batch in _batches(named)
            ]
            return [t for future in asked for t in future.result()]
        return self._terminations(scope, start, end)

    def _terminations(self, scope: Scope, start: datetime, end: datetime) -> list[Termination]:
        with paused_collection():  # a range answer's [time, "value"] pairs: see collector
            return self._read_terminations(scope, start, end)

    def _read_terminations(self, scope: Scope, start: datetime, end: datetime) -> list[Termination]:
        span = (end - start).total_seconds()
        # 720 points a series at most: a day (the digest) at 2 min, a report's 3 h at 15 s. A
        # termination's time survives any step (it is a value); only two ends closer than one
        # step blur into the later one.
        step = max(range_step_seconds(span), span / 720)
        query = self.queries.termination_history(scope, span)
        self.last_ranges.append((query, start.timestamp(), end.timestamp(), step))
        rows = self._call(lambda: self._post("query_range", query, start=start, end=end, step=step))
        series: dict[ContainerRef, dict[str, dict[float, Any]]] = {}
        for row in rows:
            ref, figure = self._ref(row), row["metric"].get(FIGURE_LABEL)
            if ref is None or figure is None:
                continue
            into = series.setdefault(ref, {}).setdefault(figure, {})
            reason = row["metric"].get("reason", "")
            for ts, text in row.get("values", []):
                if (value := _number(text)) is None:
                    continue
                if figure == "reason":  # a set: a replaced reason lingers until stale
                    into.setdefault(float(ts), set()).add(reason)
                else:
                    into[float(ts)] = value
        found: list[Termination] = []
        for ref, figures in sorted(series.items()):
            found += terminations_in(ref, figures, start=start.timestamp())
        return found

    def node_memory(
        self, nodes: list[str], start: datetime, end: datetime
    ) -> dict[str, NodeMemory]:
        span = (end - start).total_seconds()
        step = max(range_step_seconds(span), span / 720)  # a day at 2 min, as terminations
        query = self.queries.node_memory(nodes)
        self.last_ranges.append((query, start.timestamp(), end.timestamp(), step))
        rows = self._call(lambda: self._post("query_range", query, start=start, end=end, step=step))
        found: dict[str, dict[str, tuple[tuple[float, float], ...]]] = {}
        for row in rows:
            labels = row.get("metric") or {}
            node, figure = labels.get("node"), labels.get(FIGURE_LABEL)
            if node is None or figure not in ("pressure", "available"):
                continue
            points = tuple(
                (float(ts), value)
                for ts, text in row.get("values", [])
                if (value := _number(text)) is not None
            )
            found.setdefault(node, {})[figure] = points
        return {node: NodeMemory(**figures) for node, figures in found.items()}

    def node_top_pods(self, node: str, at: float, count: int) -> tuple[tuple[str, int], ...]:
        rows = self._instant(
            self.queries.node_top_pods(node, count), datetime.fromtimestamp(at, tz=UTC)
        )
        top = [
            (f"{pod.namespace}/{pod.pod}", round(value))
            for row in rows
            if (pod := self._pod(row)) is not None
            and (value := _number(row.get("value", (None, None))[1])) is not None
        ]
        return tuple(sorted(top, key=lambda item: -item[1]))

    def history(self, scope: Scope, start: datetime, end: datetime) -> History:
        step = range_step_seconds((end - start).total_seconds())
        query = self.queries.history(scope)
        self.last_ranges.append((query, start.timestamp(), end.timestamp(), step))
        rows = self._call(lambda: self._post("query_range", query, start=start, end=end, step=step))
        series = []
        for row in rows:
            ref = self._ref(row)
            figure = row["metric"].get(SOURCE_LABEL)
            if ref is None or figure is None:
                continue
            points = tuple(
                (float(ts), float(value))
                for ts, text in row.get("values", [])
                if (value := parse_whole(text)) is not None  # bytes: absurd ones are no value
            )
            series.append(Series(ref, figure, points))
        return History(start=start, end=end, step_seconds=step, series=tuple(series))

    # --- translation ---------------------------------------------------------------------

    def _values(self, name: str, query: str, at: datetime) -> dict[str, dict[Key, Any]]:
        """One answer as {figure: {(cluster, namespace, pod, container): value}}; a bundle's
        rows go to the figure they are tagged with. Pod-level figures are keyed with
        container "" and carry their label of interest instead of a number."""
        with paused_collection():  # the parsed rows are garbage once reduced: see collector
            return self._reduce(name, self._instant(query, at))

    def _reduce(self, name: str, rows: list[Row]) -> dict[str, dict[Key, Any]]:
        cluster_label, intern = self.settings.cluster_label, self._intern
        found: dict[str, dict[Key, Any]] = {}
        for row in rows:
            labels = row.get("metric") or {}
            figure = labels.get(FIGURE_LABEL, name)
            if figure == "kube_state_metrics":  # a fact about the cluster, not a container
                found.setdefault(figure, {})[("", "", "", "")] = True
                continue
            if figure in COUNT_FIGURES:  # how many containers: a number about them all
                count = whole_number(_number(row.get("value", (None, None))[1]) or 0.0)
                found.setdefault("counts", {})[("", "", "", figure)] = count or 0
                continue
            if figure in NAMESPACE_COUNT_FIGURES:  # containers of one namespace, counted
                count = whole_number(_number(row.get("value", (None, None))[1]) or 0.0)
                where = (intern(labels.get(cluster_label, "")), intern(labels.get("namespace", "")))
                if figure == "ns_compared":  # two rows: below the floor ("0") and at or above
                    figure = f"{figure}_{labels.get(ABOVE_FLOOR_LABEL, '')}"
                found.setdefault("namespace_counts", {})[(*where, "", figure)] = count or 0
                continue
            if figure == "replicas":  # pods of one workload: keyed by the workload
                workload = _pod_fact("owner", labels)
                count = whole_number(_number(row.get("value", (None, None))[1]) or 0.0)
                if workload and "namespace" in labels:
                    where = (intern(labels.get(cluster_label, "")), intern(labels["namespace"]))
                    found.setdefault(figure, {})[(*where, workload, "")] = count or 0
                continue
            try:
                key = (
                    intern(labels.get(cluster_label, "")),
                    intern(labels["namespace"]),
                    intern(labels["pod"]),
                    intern(labels.get("container", "")),
                )
            except (KeyError, TypeError):
                continue
            values = found.setdefault(figure, {})
            if figure == "annotations":  # a pod's annotations and owner label: rows add up
                said = {**dict(values.get(key, ())), **_pod_fact(figure, labels)}
                values[key] = tuple(sorted(said.items()))
                continue
            if figure in POD_LEVEL_ANSWERS:
                values[key] = _pod_fact(figure, labels)
                continue
            value = _number(row.get("value", (None, None))[1])
            if value is None:
                continue
            if figure not in FRACTIONAL_FIGURES:
                whole = whole_number(value)
                if whole is None:
                    continue  # unusable: missing for this container this cycle
                value = whole
            values[key] = (value, labels.get(SOURCE_LABEL)) if figure == "limit" else value
        return found

    def _intern(self, text: str) -> str:
        # Namespaces and pod names repeat in every answer: keep one copy of each string.
        return self._strings.setdefault(text, text)

    @staticmethod
    def _keys(answers: dict[str, dict[Key, Any]]) -> list[Key]:
        """Every container any answer knows by working set, limit or request, in order."""
        found = answers.get("working_set", {}).keys() | answers.get("limit", {}).keys()
        found |= answers.get("request", {}).keys()
        return sorted(found)

    def _assemble(
        self, answers: dict[str, dict[Key, Any]], keys: list[Key]
    ) -> dict[Key, ContainerMemory]:
        """The answers joined per container. The hot loop of a check: plain dict lookups."""
        empty: dict[Key, Any] = {}

        def get(name: str) -> Callable[[Key], Any]:
            return answers.get(name, empty).get

        ws, floor, usage, rss, cache, swap = (
            get(n) for n in ("working_set", "working_set_floor", "usage", "rss", "cache", "swap")
        )
        request, restarts, limit_of = get("request"), get("restarts"), get("limit")
        growth, restarted, time_to_limit = get("growth"), get("restarted"), get("time_to_limit")
        increase, events = get("restart_increase"), get("oom_events")
        node, owner, labels = get("node"), get("owner"), get("labels")
        annotations, started, stalled = get("annotations"), get("started"), get("stalled")
        evicted, events_total, last_ws = (
            get(n) for n in ("evicted", "oom_events_total", "last_working_set")
        )
        built: dict[Key, ContainerMemory] = {}
        for key in keys:
            pod = (key[0], key[1], key[2], "")
            limit = limit_of(key)
            slope = growth(key)
            if slope is None and (ttl := time_to_limit(key)) and limit and ws(key) is not None:
                slope = (limit[0] - ws(key)) / ttl  # the lean check asked for the time instead
            built[key] = ContainerMemory(
                ref=ContainerRef(*key),
                working_set_bytes=ws(key),
                working_set_floor_bytes=floor(key),
                usage_bytes=usage(key),
                rss_bytes=rss(key),
                cache_bytes=cache(key),
                swap_bytes=swap(key),
                limit_bytes=None if limit is None else limit[0],
                request_bytes=request(key),
                restarts=restarts(key),
                growth_bytes_per_second=None if restarted(key) else slope,
                limit_source=None if limit is None else limit[1],
                node=node(pod),
                workload=owner(pod),
                restarts_in_window=increase(key),
                oom_events_in_window=events(key),
                pod_labels=labels(pod) or (),
                ignored=(said := dict(annotations(pod) or ())).get(IGNORE) == "true",
                threshold_annotations=tuple(
                    (k, v) for k, v in sorted(said.items()) if k in THRESHOLD_ANNOTATIONS
                ),
                owner_id=slack_id(said.get(OWNER) or said.get(OWNER_BY_LABEL)),
                started_at=started(key),
                memory_stalled_ratio=stalled(key),
                evicted=(eviction := evicted(pod)) is not None,
                node_of_eviction=eviction or None,
                oom_events_total=events_total(key),
                last_working_set_bytes=last_ws(key),
            )
        return built

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
        rows = self._call(lambda: self._post("query", query, time=at))
        with self._counting:
            self.rows_received += len(rows)
        return rows

    def _post(self, path: str, query: str, **when: datetime | float) -> Any:
        """One PromQL API call with the query in the POST body, as the API allows (the
        client library sends it in the URL even for POST): a detail query naming hundreds of
        pods is tens of kilobytes, past what proxies take in a URL."""
        form = {"query": query}
        for name, value in when.items():
            stamp = value.timestamp() if isinstance(value, datetime) else value
            form[name] = f"{stamp:.3f}"
        timeout = self._time_left(self.settings.prometheus_timeout_seconds)
        # verify and cert passed as well: requests lets REQUESTS_CA_BUNDLE override the
        # session's own CA otherwise.
        response = self._session.post(
            f"{self.url}/api/v1/{path}",
            data=form_body(form),
            headers=FORM_HEADERS,
            timeout=timeout,
            verify=self._session.verify,
            cert=self._session.cert,
            stream=True,
        )
        with response:
            body = bytearray()
            for chunk in _pieces(response):
                body += chunk
                self._time_left(timeout)  # a steady trickle still ends with the deadline
        if response.status_code != 200:  # worded as the library words it: _explain_status
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({bytes(body[:500])!r})"
            )
        return json.loads(body)["data"]["result"]

    def _time_left(self, timeout: float) -> float:
        """The request timeout, or less when the work's deadline (a check's) comes first."""
        left = remaining()
        if left is None:
            return timeout
        seconds, budget = left
        if seconds <= 0:
            raise SourceError(
                f"the check took longer than {budget:g} s (check_timeout_seconds): Prometheus "
                f"at {self.url} answers too slowly"
            )
        return min(timeout, seconds)

    def _call(self, send: Callable[[], Any]) -> list[Row]:
        try:
            result = send()
        except requests.Timeout:
            raise SourceError(
                f"Prometheus at {self.url} did not answer within "
                f"{self.settings.prometheus_timeout_seconds:g} s (prometheus_timeout_seconds)"
            ) from None
        except requests.exceptions.SSLError as error:
            raise SourceError(tls_problem(self.url, str(error), self.settings)) from None
        except requests.ConnectionError:
            raise SourceError(
                f"cannot reach Prometheus at {self.url}: is the URL right and the server up?"
            ) from None
        except ValueError:  # JSON that does not parse (json's error is a ValueError)
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
        except requests.RequestException as error:  # a bad header, a broken chunk, ...
            raise SourceError(
                f"Prometheus at {self.url} gave an unusable answer ({type(error).__name__})"
            ) from None
        problem = _shape_problem(result)
        if problem is not None:
            raise SourceError(f"{self.url} answered with {problem}: not a PromQL API response")
        return result  # type: ignore[no-any-return]

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._session.close()


def _pieces(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives, whatever has arrived each time (urllib3 2's read1): a server
    that trickles a byte a second is seen doing it, not waited for in one long read."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:  # an older urllib3: whole chunks
        yield from response.iter_content(CHUNK_BYTES)
        return
    while piece := read1(CHUNK_BYTES, decode_content=True):
        yield piece


def _merged(answers: list[Answer]) -> dict[str, dict[Key, Any]]:
    """Answers waited for and merged by figure."""
    merged: dict[str, dict[Key, Any]] = {}
    for answer in answers:
        for name, values in answer.result().items():
            merged.setdefault(name, {}).update(values)
    return merged


def _batches(pods: list[PodName]) -> list[Scope]:
    """DETAIL_BATCH pods per scope: a bounded regex, a bounded answer."""
    return [_scope(pods[i : i + DETAIL_BATCH]) for i in range(0, len(pods), DETAIL_BATCH)]


def _scope(pods: list[PodName]) -> Scope:
    return Scope(pods=tuple(sorted({(p.namespace, p.pod) for p in pods})))


def _shape_problem(result: Any) -> str | None:
    """The one check between the wire and everything that reads an answer: a list of samples,
    each with a label object and a [time, "value"] pair (instant) or a list of them (range)."""
    if not isinstance(result, list):
        return "a result that is not a vector"
    for row in result:
        if not isinstance(row, dict) or not isinstance(row.get("metric"), dict):
            return "a sample without a label object"
        pairs = row["values"] if "values" in row else [row.get("value")]
        if not isinstance(pairs, list) or not all(
            isinstance(pair, list) and len(pair) == 2 for pair in pairs
        ):
            return "a sample without a [time, value] pair"
    return None


def _bounded_retry(cap_seconds: float) -> type[Retry]:
    class BoundedRetry(Retry):
        """urllib3's Retry, with Retry-After honoured only up to the request timeout, and a
        malformed one read as no wait rather than raised (it crashed the check)."""

        def parse_retry_after(self, retry_after: str) -> float:
            try:
                seconds = float(super().parse_retry_after(retry_after))
            except InvalidHeader:
                return 0.0
            return min(seconds, cap_seconds)

    return BoundedRetry


# More than any node holds (1 PiB): a figure past it is garbage from the wire, not memory.
SANE_MAX = float(2**50)


def whole_number(value: float) -> int | None:
    """Bytes and counts: whole, not negative, not absurd. Anything else is no value at all,
    so a glitch in one answer reads as missing data (which never resolves an alert) rather
    than as a figure that could."""
    if not 0 <= value <= SANE_MAX:
        return None
    return round(value)


def parse_whole(text: object) -> int | None:
    """A sample's text as bytes or a count, or None where it is not one (see whole_number)."""
    value = _number(text)
    return None if value is None else whole_number(value)


def _number(text: object) -> float | None:
    """Prometheus sends sample values as strings; NaN and ±Inf mean 'no usable value'."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _explain_status(url: str, detail: str) -> str:
    """prometheus-api-client says `HTTP Status Code 404 (b'404 page not found\\n')`: say it
    as a person would, with the status and the server's own words."""
    found = re.match(r"HTTP Status Code (\d+) \(b?(['\"])(.*)\2\)$", detail, re.DOTALL)
    status, said = (found.group(1), _unescape(found.group(3))) if found else ("", detail)
    said = " ".join(said.split())[:200]
    if status in ("401", "403"):
        return (
            f"Prometheus at {url} refused the request (HTTP {status}: {said}): check "
            "prometheus_bearer_token(_file), prometheus_username/password or "
            "prometheus_headers"
        )
    if status == "404":
        return (
            f"{url} has no PromQL API at /api/v1/query (HTTP 404: {said}): "
            "check the URL and its path prefix, e.g. http://mimir/prometheus"
        )
    if status:
        return f"Prometheus at {url} failed the query (HTTP {status}: {said})"
    return f"Prometheus at {url} failed the query: {said}"


def _unescape(text: str) -> str:
    """The body as repr() printed it, back to plain text (\\n, \\x.. escapes)."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return text


def _pod_fact(name: str, labels: dict[str, str]) -> Any:
    """What a pod-level answer says: the node, the workload, or the pod's labels."""
    if name == "node":
        return labels.get("node")
    if name == "evicted":  # present: evicted; the value is its node, if known
        return labels.get("node", "")
    if name == "owner":
        kind, owner = labels.get("owner_kind", ""), labels.get("owner_name", "")
        if kind in ("", "<none>") or not owner:
            return None
        exact = labels.get(EXACT_LABEL) is not None  # kube-state-metrics followed the chain
        return workload_label(kind, owner) if exact else guess_workload(kind, owner)
    if name == "annotations":
        said = {a: labels[label] for a, label in ANNOTATION_LABELS.items() if labels.get(label)}
        if labels.get(OWNER_POD_LABEL):
            said[OWNER_BY_LABEL] = labels[OWNER_POD_LABEL]
        return said
    return tuple(
        sorted((k.removeprefix("label_"), v) for k, v in labels.items() if k.startswith("label_"))
    )
