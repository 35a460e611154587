"""PromQL builders: pure functions from intent to query text, unit-tested on their own.

Every query is cluster-wide and aggregated `max by (cluster, namespace, pod, container)`:
- `max`, not `sum`, collapses duplicate cAdvisor series (two scrape jobs, a stale `id`), which
  would otherwise double a container's memory;
- `container!="", container!="POD"` drops the pod-level cgroup and the pause container;
- one query per figure, whatever the number of pods, so a check costs the same at 10 pods and
  at 20 000.
Label values that come from users only enter through `string_literal` / `regex_prefix`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from bot.units import promql_duration

# Drops the pod-level cgroup (container="") and the pause container (container="POD").
CADVISOR_ONLY = 'container!="", container!="POD"'


@dataclass(frozen=True, slots=True)
class Source:
    """One place a figure can come from: a metric, its own matchers, a value filter."""

    name: str
    metric: str
    matchers: str = ""
    value_filter: str = ""


# kube-state-metrics renamed its resource metrics in v2.0; v1 clusters still exist, and some
# clusters run neither, leaving cAdvisor's own view of the cgroup limit. We ask for all three in
# one query and keep, per container, the first that answers (`or on(...)`: left wins).
# Native sidecars (init containers with restartPolicy: Always) are kube_pod_init_container_*
# to kube-state-metrics; only the running ones count, or every finished init container of
# every pod would show up as a container with a limit and no data.
RUNNING_INIT = " and on({group}) (kube_pod_init_container_status_running == 1)"
LIMIT_SOURCES = (
    Source("kube-state-metrics v2", "kube_pod_container_resource_limits", 'resource="memory"'),
    Source(
        "kube-state-metrics v2",
        "kube_pod_init_container_resource_limits",
        'resource="memory"',
        RUNNING_INIT,
    ),
    Source("kube-state-metrics v1", "kube_pod_container_resource_limits_memory_bytes"),
    # cgroup v1 reports "no limit" as ~2^63 and cgroup v2 as 0: neither is a limit.
    Source("cAdvisor", "container_spec_memory_limit_bytes", CADVISOR_ONLY, " > 0 < 4e18"),
)
CADVISOR_LIMIT = LIMIT_SOURCES[-1]
REQUEST_SOURCES = (
    Source("kube-state-metrics v2", "kube_pod_container_resource_requests", 'resource="memory"'),
    Source(
        "kube-state-metrics v2",
        "kube_pod_init_container_resource_requests",
        'resource="memory"',
        RUNNING_INIT,
    ),
    Source("kube-state-metrics v1", "kube_pod_container_resource_requests_memory_bytes"),
)
# Containers and native sidecars alike (kube-state-metrics names the latter init containers).
RESTARTS = '__name__=~"kube_pod_(init_)?container_status_restarts_total"'
LAST_REASON = '__name__=~"kube_pod_(init_)?container_status_last_terminated_reason"'
LAST_FINISHED = '__name__=~"kube_pod_(init_)?container_status_last_terminated_timestamp"'
# The pod annotations podmem reads, as kube-state-metrics names their labels.
ANNOTATION_LABELS = {
    "podmem.io/ignore": "annotation_podmem_io_ignore",
    "podmem.io/warning": "annotation_podmem_io_warning",
    "podmem.io/critical": "annotation_podmem_io_critical",
    "podmem.io/owner": "annotation_podmem_io_owner",
}
# podmem.io/owner may be a pod label instead (a Slack ID fits a label value): kube-state-metrics
# exports it once allow-listed (--metric-labels-allowlist=pods=[podmem.io/owner]).
OWNER_POD_LABEL = "label_podmem_io_owner"
PSI_STALLED = "container_pressure_memory_stalled_seconds_total"
SOURCE_LABEL = "podmem_source"
# count_values' label in the digest's namespace counts: "1" at or above the floor, "0" below.
ABOVE_FLOOR_LABEL = "podmem_above_floor"
# Tags the rows of a bundle (several figures answered by one query) with their figure.
FIGURE_LABEL = "podmem_figure"
# Marks an owner answer that kube-state-metrics resolved to the workload (no name guessing).
EXACT_LABEL = "podmem_exact"
# Controllers between a pod and its workload: (kind, its label on the owner series, metric).
CONTROLLER_OWNERS = (
    ("ReplicaSet", "replicaset", "kube_replicaset_owner"),
    ("Job", "job_name", "kube_job_owner"),
)

CADVISOR_FIGURES = {
    "working_set": "container_memory_working_set_bytes",
    "usage": "container_memory_usage_bytes",
    "rss": "container_memory_rss",
    "cache": "container_memory_cache",
    "swap": "container_memory_swap",
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Which containers a query covers: everything, or one namespace and/or pod."""

    namespace: str | None = None
    pod: str | None = None
    pod_prefix: str | None = None
    # Several (namespace, pod) pairs in one query. The matchers select the cross product;
    # callers keep the pairs they asked for (pod names rarely repeat across namespaces).
    pods: tuple[tuple[str, str], ...] = ()

    def namespaces(self) -> Scope:
        """The same namespaces, any object: for series with no pod label (a ReplicaSet's)."""
        if self.pods:
            return Scope(pods=tuple((ns, "") for ns, _ in self.pods), pod_prefix=None)
        return Scope(namespace=self.namespace)

    def matchers(self) -> str:
        return _matchers(self)

    def covers(self, namespace: str, pod: str) -> bool:
        """Whether a row belongs to this scope (exactly, not by the regex cross product)."""
        if self.namespace is not None and namespace != self.namespace:
            return False
        if self.pod is not None and pod != self.pod:
            return False
        if self.pod_prefix is not None and not pod.startswith(self.pod_prefix):
            return False
        return not self.pods or (namespace, pod) in self.pods


CLUSTER_WIDE = Scope()


# A check's detail round selects a batch of 400 pods in some 40 places: the regex of their
# names is built (escaped, joined) once per scope, not per selector (110 000 escapes a cycle
# at 100 000 containers, a tenth of its CPU).
@lru_cache(maxsize=64)
def _matchers(scope: Scope) -> str:
    parts = []
    if scope.namespace is not None:
        parts.append(f"namespace={string_literal(scope.namespace)}")
    if scope.pod is not None:
        parts.append(f"pod={string_literal(scope.pod)}")
    elif scope.pod_prefix is not None:
        parts.append(f"pod=~{regex_prefix(scope.pod_prefix)}")
    if scope.pods:
        namespaces = sorted({ns for ns, _ in scope.pods})
        names = sorted({pod for _, pod in scope.pods if pod})
        parts.append(f"namespace=~{regex_any(namespaces)}")
        if names:
            parts.append(f"pod=~{regex_any(names)}")
    return ",".join(parts)


def string_literal(value: str) -> str:
    """A PromQL double-quoted string holding exactly `value`, whatever it contains."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def regex_any(values: list[str]) -> str:
    """A PromQL regex literal matching exactly one of `values`."""
    return string_literal("|".join(re.escape(v) for v in values))


def regex_prefix(prefix: str) -> str:
    """A PromQL regex literal matching names that start with `prefix` (RE2 is anchored)."""
    return string_literal(re.escape(prefix) + ".*")


class QueryBuilder:
    """Builds the queries for one label layout (the cluster label is configurable)."""

    def __init__(self, cluster_label: str = "cluster") -> None:
        self.cluster_label = cluster_label
        # The clusters (values of the cluster label, "" without one) whose kube-state-metrics
        # exports limits, as the source last found them (`ksm_limit_clusters`). cAdvisor's
        # limit is asked of the other clusters only: where kube-state-metrics has no limit
        # for a container, the container has none (a pod's spec is what it reads), and the
        # fallback selected every container's cgroup limit in every comparison with the limit
        # (0.37 -> 0.14 Prometheus CPU-s per limit chain at 20 000 containers). Replaced
        # whole, never changed in place: a query being composed sees the old set or the new.
        self.ksm_limit_clusters: frozenset[str] = frozenset()
        self.group = f"{cluster_label}, namespace, pod, container"

    @staticmethod
    def select(metric: str, scope: Scope, matchers: str = "") -> str:
        """`metric{...}` with the source's own matchers and the scope's, never empty braces."""
        parts = [part for part in (matchers, scope.matchers()) if part]
        return f"{metric}{{{', '.join(parts)}}}" if parts else metric

    def per_container(self, expression: str) -> str:
        return f"max by ({self.group}) ({expression})"

    def figure(self, metric: str, scope: Scope = CLUSTER_WIDE) -> str:
        """The current value of one cAdvisor figure, per container."""
        return self.per_container(self.select(metric, scope, CADVISOR_ONLY))

    def working_set_floor(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """Lowest working set over the for-duration: the stateless 'held for N minutes'."""
        selector = self.select(CADVISOR_FIGURES["working_set"], scope, CADVISOR_ONLY)
        return self.per_container(f"min_over_time({selector}[{promql_duration(window_seconds)}])")

    def working_set_growth(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """Working-set slope in bytes/s over the trend window (least squares, PromQL deriv)."""
        selector = self.select(CADVISOR_FIGURES["working_set"], scope, CADVISOR_ONLY)
        return self.per_container(f"deriv({selector}[{promql_duration(window_seconds)}])")

    def first_available(
        self, sources: tuple[Source, ...], scope: Scope = CLUSTER_WIDE, *, tagged: bool = True
    ) -> str:
        """Per container, the value of the first source that has one, tagged with its name
        (untagged where only the value is compared: the tag is a new label set per row)."""
        values = [
            self.per_container(self.select(s.metric, scope, s.matchers) + self._filter(s))
            for s in sources
        ]
        if tagged:
            values = [
                f'label_replace({value}, "{SOURCE_LABEL}", "{s.name}", "", "")'
                for value, s in zip(values, sources, strict=True)
            ]
        return f" or on({self.group}) ".join(values)

    def _filter(self, source: Source) -> str:
        return source.value_filter.replace("{group}", self.group)

    def limits(self, scope: Scope = CLUSTER_WIDE) -> str:
        """Each container's limit, tagged with where it came from (a report says so)."""
        return self.first_available(self._limit_sources(), scope)

    def limit_values(self, scope: Scope = CLUSTER_WIDE) -> str:
        """Each container's limit, untagged: for the questions that compare with it."""
        return self.first_available(self._limit_sources(), scope, tagged=False)

    def ksm_limit_clusters_query(self) -> str:
        """The clusters whose kube-state-metrics exports containers' memory limits (v2 or v1
        names): one row per cluster."""
        c = self.cluster_label
        return (
            f'group by ({c}) (kube_pod_container_resource_limits{{resource="memory"}}) '
            f"or group by ({c}) (kube_pod_container_resource_limits_memory_bytes)"
        )

    def _limit_sources(self) -> tuple[Source, ...]:
        """The limit chain, its cAdvisor fallback kept to the clusters without
        kube-state-metrics' limits (a series without the cluster label counts as cluster "")."""
        elsewhere = self._without_kube_state_metrics()
        if not elsewhere:
            return LIMIT_SOURCES
        fallback = replace(CADVISOR_LIMIT, matchers=f"{CADVISOR_LIMIT.matchers}, {elsewhere}")
        return tuple(fallback if s is CADVISOR_LIMIT else s for s in LIMIT_SOURCES)

    def _without_kube_state_metrics(self) -> str:
        """A matcher for the clusters whose kube-state-metrics exports no limits ("" when
        the source has not looked: every cluster)."""
        known = sorted(self.ksm_limit_clusters)
        return f"{self.cluster_label}!~{regex_any(known)}" if known else ""

    # --- "only where it matters" variants for the cluster-wide check -----------------------
    # Each returns the figure only for the containers whose verdict can depend on it, so a
    # check over 20 000 containers parses a few hundred rows instead of 20 000. Absence has a
    # precise meaning in each case (documented per method); shown containers get the full
    # figure from the detail round.

    def working_set_near_limit(self, ratio: float, scope: Scope = CLUSTER_WIDE) -> str:
        """The working set where it is at or above `ratio` of the limit: the containers whose
        figures may make them more than ok. Absent: below it, or no limit."""
        current = self.figure(CADVISOR_FIGURES["working_set"], scope)
        return f"{current} >= on({self.group}) ({ratio:g} * ({self.limit_values(scope)}))"

    def container_counts(self, scope: Scope = CLUSTER_WIDE) -> str:
        """Every container counted where it is, in one query of three rows tagged by figure:
        with a working set, of those without a limit, and with a limit but no working set."""
        current = self.figure(CADVISOR_FIGURES["working_set"], scope)
        limits = f"({self.limit_values(scope)})"
        return self.bundle(
            {
                "with_working_set": f"count({current})",
                "without_limit": f"count({current} unless on({self.group}) {limits})",
                "without_working_set": f"count({limits} unless on({self.group}) {current})",
            }
        )

    def closest_to_limit(self, count: int, scope: Scope = CLUSTER_WIDE) -> str:
        """The `count` containers with the highest working set / limit: `/podmem top` names
        them without fetching every container."""
        current = self.figure(CADVISOR_FIGURES["working_set"], scope)
        return f"topk({count}, {current} / on({self.group}) ({self.limit_values(scope)}))"

    def replica_counts(self, pods: Scope) -> str:
        """Pods per workload of these pods (the owner chain of `pod_owners`): "3 of 5
        replicas" without fetching every pod. Every pod of their namespaces is counted, in
        Prometheus; only the workloads of these pods answer (a namespace of 2 000 pods in
        their own workloads would otherwise answer 2 000 rows per batch)."""
        by = f"{self.cluster_label}, namespace, owner_kind, owner_name, {EXACT_LABEL}"
        counted = f"count by ({by}) ({self.pod_owners(pods.namespaces())})"
        return f"{counted} and on({by}) group by ({by}) ({self.pod_owners(pods)})"

    # --- the digest's questions: its lists' top rows and counts per namespace ------------
    # Routes choose channels by cluster and namespace, so per-namespace answers add up to any
    # channel's exactly: the top rows of a channel are among its namespaces' top rows.

    def namespace_counts(self, floor: float, scope: Scope = CLUSTER_WIDE) -> str:
        """Per (cluster, namespace), tagged by figure: containers with a working set, with a
        limit, and of those with both, how many are below and at or above `floor` of it
        (count_values by ABOVE_FLOOR_LABEL, "0" and "1"). The rest is arithmetic: without a
        limit = with a working set - both, and so on. Each of the working set and the limit
        chain is evaluated twice, not four times."""
        current = self.figure(CADVISOR_FIGURES["working_set"], scope)
        limits = f"({self.limit_values(scope)})"
        where = f"{self.cluster_label}, namespace"
        compared = f"{current} >= bool on({self.group}) ({floor:g} * {limits})"
        return self.bundle(
            {
                "ns_with_working_set": f"count by ({where}) ({current})",
                "ns_with_limit": f"count by ({where}) ({limits})",
                "ns_compared": f'count_values by ({where}) ("{ABOVE_FLOOR_LABEL}", {compared})',
            }
        )

    def top_rows(
        self, rows: int, floor: float, *, per_namespace: bool, scope: Scope = CLUSTER_WIDE
    ) -> str:
        """The `rows` containers closest to their limit (working set / limit, at or above
        `floor`): of each namespace, or (one channel for all) of the whole cluster."""
        current = self.figure(CADVISOR_FIGURES["working_set"], scope)
        ratio = f"{current} / on({self.group}) ({self.limit_values(scope)})"
        return f"topk{self._by_namespace(per_namespace)} ({rows}, {ratio} >= {floor:g})"

    def no_limit_rows(self, rows: int, *, per_namespace: bool, scope: Scope = CLUSTER_WIDE) -> str:
        """The `rows` largest working sets without a limit, of each namespace or of all."""
        current = self.figure(CADVISOR_FIGURES["working_set"], scope)
        unlimited = f"{current} unless on({self.group}) ({self.limit_values(scope)})"
        return f"topk{self._by_namespace(per_namespace)} ({rows}, {unlimited})"

    def _by_namespace(self, per_namespace: bool) -> str:
        return f" by ({self.cluster_label}, namespace)" if per_namespace else ""

    def rightsizing_pods(
        self,
        *,
        headroom: float,
        min_freed_bytes: int,
        window_seconds: float,
        step_seconds: float,
        killed_within_seconds: float,
        scope: Scope = CLUSTER_WIDE,
    ) -> str:
        """Every pod of the workloads right-sizing may have a finding for: one of their
        containers has a request at least `min_freed_bytes` above p95 × (1 + headroom), a
        limit below peak × (1 + headroom), or a limit and a restart in the window (an OOM kill
        bumps the limit). Whole workloads, since a finding is sized by the highest p95 and peak
        of all replicas and counts them; a pod with no owner is its own workload. Each row is
        a pod with its workload as the owner chain answered (the bot need not ask again).
        Each profile is evaluated once here: the bot then asks for these pods' profiles alone.
        (Without `kube_replicaset_owner`, the bot guesses a Deployment from its ReplicaSets'
        names while this groups by ReplicaSet: mid-rollout, the old ReplicaSet's pods may be
        left out of a finding's replicas.)"""
        c, g = self.cluster_label, self.group
        grow = f"{1 + headroom:g}"
        p95 = self.working_set_quantile(0.95, window_seconds, step_seconds, scope)
        peak = self.working_set_peak(window_seconds, scope)
        restarted = self.restart_increase(killed_within_seconds, scope)
        # One limit below which a container fires: peak x (1 + headroom), or any limit at
        # all (+Inf) if it restarted; the limit chain is then evaluated once, not twice.
        bound = f"(({restarted}) > 0) * 0 + Inf or on({g}) ({grow} * ({peak}))"
        fires = (
            f"(({self.requests(scope)}) - on({g}) ({grow} * ({p95})) >= {min_freed_bytes:d})"
            f" or on({g}) (({self.limit_values(scope)}) < on({g}) ({bound}))"
        )
        # A pod no owner row names is its own workload. kube-state-metrics gives every pod
        # an owner row ("<none>" for none), so only the clusters without it need the pods
        # from cAdvisor (two selections of every container's working set otherwise).
        elsewhere = ", ".join(m for m in (CADVISOR_ONLY, self._without_kube_state_metrics()) if m)
        ws = self.select(CADVISOR_FIGURES["working_set"], scope, elsewhere)
        alone = (
            f'label_replace(max by ({c}, namespace, pod) ({ws}), "owner_name", "$1", "pod", "(.+)")'
        )
        owners = f"({self.pod_owners(scope)} or on({c}, namespace, pod) {alone})"
        workload = f"{c}, namespace, owner_kind, owner_name"
        firing = f"max by ({workload}) ({owners} and on({c}, namespace, pod) ({fires}))"
        pod_and_workload = f"{c}, namespace, pod, owner_kind, owner_name, {EXACT_LABEL}"
        return f"max by ({pod_and_workload}) ({owners} and on({workload}) {firing})"

    def usage_where_full(self, ratio: float, scope: Scope = CLUSTER_WIDE) -> str:
        """Usage where it is at or above `ratio` of the limit (the cache-heavy test).
        Absent: usage is below it, so the container is not cache-heavy."""
        usage = self.figure(CADVISOR_FIGURES["usage"], scope)
        return f"{usage} >= on({self.group}) ({ratio:g} * ({self.limit_values(scope)}))"

    def time_to_limit_where_racing(
        self, window_seconds: float, seconds: float, scope: Scope = CLUSTER_WIDE
    ) -> str:
        """Seconds until the working set meets the limit at its current slope, where that is
        under `seconds`. Absent: flat, falling, further away, or already there. (The slope is
        (limit - working set) / this, so deriv is evaluated once, not twice.)"""
        growth = self.working_set_growth(window_seconds, scope)
        current = self.figure(CADVISOR_FIGURES["working_set"], scope)
        return (
            f"(({self.limit_values(scope)}) - on({self.group}) {current}) / on({self.group}) "
            f"({growth}) < {seconds:g} > 0"
        )

    def requests(self, scope: Scope = CLUSTER_WIDE) -> str:
        return self.first_available(REQUEST_SOURCES, scope)

    def restarts(self, scope: Scope = CLUSTER_WIDE) -> str:
        return self.per_container(self.select("", scope, RESTARTS))

    def restarted_within(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """Restarts inside the trend window: a slope across a restart is meaningless."""
        selector = self.select("", scope, RESTARTS)
        window = promql_duration(window_seconds)
        # Only the few that did: absence means none, and 20 000 zeros are not sent. max-min,
        # not changes(): VictoriaMetrics counts the first sample of a series that begins
        # inside the window as a change, so every pod younger than the window would look
        # restarted there; on a counter the two agree in Prometheus.
        return (
            self.per_container(
                f"max_over_time({selector}[{window}]) - min_over_time({selector}[{window}])"
            )
            + " > 0"
        )

    def restart_increase(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """Restarts within the window. max-min, not increase(): the counter is exact, and
        increase() extrapolates to fractions."""
        selector = self.select("", scope, RESTARTS)
        window = promql_duration(window_seconds)
        return (
            self.per_container(
                f"max_over_time({selector}[{window}]) - min_over_time({selector}[{window}])"
            )
            + " > 0"
        )

    def oom_events(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """cAdvisor's count of kernel OOM kills inside the cgroup (the container may live on)."""
        selector = self.select("container_oom_events_total", scope, CADVISOR_ONLY)
        window = promql_duration(window_seconds)
        return (
            self.per_container(
                f"max_over_time({selector}[{window}]) - min_over_time({selector}[{window}])"
            )
            + " > 0"
        )

    def pod_owners(self, scope: Scope = CLUSTER_WIDE) -> str:
        """Each pod's workload, from kube-state-metrics' owner chain: a ReplicaSet's owner (a
        Deployment, an Argo Rollout, or none: a standalone ReplicaSet) and a Job's (a CronJob)
        from `kube_replicaset_owner` / `kube_job_owner`, tagged exact; otherwise the pod's
        direct owner, whose workload the bot guesses from its name."""
        c = self.cluster_label
        exact = f'"{EXACT_LABEL}", "1", "", ""'
        chained = [
            f"label_replace({self._owned_through(scope, kind, label, metric)}, {exact})"
            for kind, label, metric in CONTROLLER_OWNERS
        ]
        # A pod without an owner ("<none>") is its own workload: named after itself, so the
        # bare pods of a namespace are not grouped as one.
        bare = self.select("kube_pod_owner", scope, 'owner_kind="<none>"')
        owned = self.select("kube_pod_owner", scope, 'owner_kind!="<none>"')
        direct = f"max by ({c}, namespace, pod, owner_kind, owner_name) " + (
            f'({owned} or label_replace({bare}, "owner_name", "$1", "pod", "(.+)"))'
        )
        either = f" or on({c}, namespace, pod) ".join([*chained, direct])
        return f"max by ({c}, namespace, pod, owner_kind, owner_name, {EXACT_LABEL}) ({either})"

    def _owned_through(self, scope: Scope, kind: str, label: str, metric: str) -> str:
        """Pods owned by a `kind` object, with that object's own owner. A standalone
        ReplicaSet (owner "<none>") is its own workload, whatever its name: its owner row is
        rewritten to itself on the owner side, a few hundred series, so the pods' side (every
        pod of the cluster) is relabelled and joined once."""
        c = self.cluster_label
        pods = self.select("kube_pod_owner", scope, f'owner_kind="{kind}"')
        left = (
            f"max by ({c}, namespace, pod, {label}) "
            f'(label_replace({pods}, "{label}", "$1", "owner_name", "(.+)"))'
        )
        owners = self.select(metric, scope.namespaces(), 'owner_kind!="<none>", owner_kind!=""')
        if kind == "ReplicaSet":
            alone = self.select(metric, scope.namespaces(), 'owner_kind="<none>"')
            owners += (
                f' or label_replace(label_replace({alone}, "owner_kind", "{kind}", "", ""), '
                f'"owner_name", "$1", "{label}", "(.+)")'
            )
        right = f"max by ({c}, namespace, {label}, owner_kind, owner_name) ({owners})"
        return f"{left} * on({c}, namespace, {label}) group_left(owner_kind, owner_name) {right}"

    def working_set_quantile(
        self,
        quantile: float,
        window_seconds: float,
        step_seconds: float,
        scope: Scope = CLUSTER_WIDE,
    ) -> str:
        """The quantile of the steps' peaks over days, at a coarse step: raw samples would
        exceed Prometheus's per-query sample limit on large clusters, and each step's peak
        (the highest raw sample in it) keeps a spike from hiding between two sampled instants.
        The quantile is of each series, then the highest per container: aggregated inside the
        subquery, every one of its 672 steps would group every container (1.0 -> 0.35
        Prometheus CPU-s at 20 000 containers). A restarted container is a new series, so
        its figure is the highest of its lives' quantiles: never below what any life needed
        (a request sized by it errs towards keeping memory, not taking it away)."""
        selector = self.select(CADVISOR_FIGURES["working_set"], scope, CADVISOR_ONLY)
        step = promql_duration(step_seconds)
        peaks = f"max_over_time({selector}[{step}])"
        window = f"[{promql_duration(window_seconds)}:{step}]"
        return self.per_container(f"quantile_over_time({quantile:g}, {peaks}{window})")

    def working_set_peak(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """The highest raw sample of the window. The highest of the steps' peaks would be
        the same figure, but a subquery first holds every container's every step in memory
        (at 100 000 containers and 672 steps, past Prometheus's default 50 million samples
        a query) and costs five times the time; a plain range is read one series at a
        time, and the highest of each series' peaks is the container's (max commutes)."""
        selector = self.select(CADVISOR_FIGURES["working_set"], scope, CADVISOR_ONLY)
        return self.per_container(f"max_over_time({selector}[{promql_duration(window_seconds)}])")

    def pod_annotations(self, scope: Scope = CLUSTER_WIDE) -> str:
        """Pods with any podmem.io annotation (ignore, warning, critical, owner), one row each
        with the values as labels. KSM v2 exports annotations only once allow-listed:
        --metric-annotations-allowlist=pods=[podmem.io/ignore,podmem.io/warning,
        podmem.io/critical,podmem.io/owner]. Only annotated pods answer. The owner may be a
        pod label instead: its rows carry OWNER_POD_LABEL."""
        labels = ", ".join([*ANNOTATION_LABELS.values(), OWNER_POD_LABEL])
        by = f"{self.cluster_label}, namespace, pod, {labels}"
        any_of = " or ".join(
            [
                *(
                    self.select("kube_pod_annotations", scope, f'{label}!=""')
                    for label in ANNOTATION_LABELS.values()
                ),
                self.select("kube_pod_labels", scope, f'{OWNER_POD_LABEL}!=""'),
            ]
        )
        return f"group by ({by}) ({any_of})"

    def container_started(self, scope: Scope = CLUSTER_WIDE) -> str:
        """When the current container started (cAdvisor), unix seconds: its age."""
        return self.figure("container_start_time_seconds", scope)

    def memory_stalled(self, scope: Scope = CLUSTER_WIDE, *, at_least: float = 0.0) -> str:
        """Fraction of the last 5 min the container was fully stalled on memory (PSI "full",
        cAdvisor on cgroup v2 with the kubelet's PSI on). With `at_least`, only those."""
        selector = self.select(PSI_STALLED, scope, CADVISOR_ONLY)
        rate = self.per_container(f"rate({selector}[5m])")
        return f"{rate} >= {at_least:g}" if at_least else rate

    def kube_state_metrics_present(self, scope: Scope = CLUSTER_WIDE) -> str:
        """One row if kube-state-metrics (v1 or v2) describes any pod in scope, none
        otherwise. Cluster-wide it reads every pod's series (0.6 s of Prometheus's CPU at
        100 000 containers); one scoped row proves the same for the pods a report shows."""
        return f"group({self.select('kube_pod_info', scope)})"

    def pod_labels(self, scope: Scope = CLUSTER_WIDE) -> str:
        """Pod labels (KSM exports only allow-listed ones in v2: label_<name>)."""
        return self.select("kube_pod_labels", scope)

    def pod_nodes(self, scope: Scope = CLUSTER_WIDE) -> str:
        by = f"{self.cluster_label}, namespace, pod, node"
        return f"max by ({by}) ({self.select('kube_pod_info', scope)})"

    def pods(self, scope: Scope) -> str:
        """The pods a target could mean: those cAdvisor or kube-state-metrics know."""
        by = f"{self.cluster_label}, namespace, pod"
        cadvisor = self.select(CADVISOR_FIGURES["working_set"], scope, CADVISOR_ONLY)
        ksm = self.select("kube_pod_container_info", scope)
        return f"group by ({by}) ({cadvisor}) or group by ({by}) ({ksm})"

    def termination_history(self, scope: Scope, window_seconds: float) -> str:
        """For a range query over the window: each restarted container's restart count, its
        last termination's time and the reason that reads 1, tagged by figure. Every
        termination in a range shows as a new timestamp (or, without the timestamp metric, a
        restart-count step), whatever reason the sticky gauge shows by the end.

        Only containers that restarted in the window answer, at every step: the filter is
        pinned to the range's end (`@ end()`), so one query serves any number of them."""
        reason_by = f"{self.group}, reason"
        window = promql_duration(window_seconds)
        counter = f"{self.select('', scope, RESTARTS)}[{window}] @ end()"
        restarted = (
            f"and on({self.group}) ("
            + self.per_container(f"max_over_time({counter}) - min_over_time({counter})")
            + " > 0)"
        )
        parts = {
            "restarts": f"{self.per_container(self.select('', scope, RESTARTS))} {restarted}",
            "finished": f"{self.per_container(self.select('', scope, LAST_FINISHED))} {restarted}",
            "reason": (
                f"max by ({reason_by}) ({self.select('', scope, LAST_REASON)} == 1) {restarted}"
            ),
        }
        return self.bundle(parts)

    def node_memory(self, nodes: list[str]) -> str:
        """For a range query over the named nodes: kube-state-metrics' MemoryPressure condition
        (1 while true) and node-exporter's MemAvailable / MemTotal, by `node`. node-exporter
        series carry the node as `node` or, as kube-prometheus relabels them, as `instance`."""
        names = regex_any(nodes)
        by_instance = string_literal(f"({'|'.join(re.escape(n) for n in nodes)})(:[0-9]+)?")

        def exporter(metric: str) -> str:
            return (
                f'min by (node) ({metric}{{node=~{names}}} or label_replace({metric}{{node="", '
                f'instance=~{by_instance}}}, "node", "$1", "instance", "([^:]+)(:[0-9]+)?"))'
            )

        pressure = (
            "max by (node) (kube_node_status_condition{"
            f'condition="MemoryPressure", status="true", node=~{names}}})'
        )
        available = (
            f"{exporter('node_memory_MemAvailable_bytes')} / on(node) "
            f"{exporter('node_memory_MemTotal_bytes')}"
        )
        return self.bundle({"pressure": pressure, "available": available})

    def node_top_pods(self, node: str, count: int) -> str:
        """The pods using the most working set on one node (joined through kube_pod_info)."""
        by = f"{self.cluster_label}, namespace, pod"
        per_pod = f"sum by ({by}) ({self.figure(CADVISOR_FIGURES['working_set'])})"
        on_node = f"max by ({by}) (kube_pod_info{{node={string_literal(node)}}})"
        return f"topk({count}, {per_pod} * on({by}) {on_node})"

    def evicted_pods(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """Pods the kubelet evicted inside the window (reason Evicted now, and it changed in the
        window: a Failed pod lingers for days, its eviction is news once), with their node."""
        by = f"{self.cluster_label}, namespace, pod"
        evicted = self.select("kube_pod_status_reason", scope, 'reason="Evicted"')
        window = promql_duration(window_seconds)
        return (
            f"max by ({by}, node) ({self.select('kube_pod_info', scope)}) "
            f"and on({by}) (max by ({by}) ({evicted}) == 1) "
            f"and on({by}) (max by ({by}) "
            f"(max_over_time({evicted}[{window}]) - min_over_time({evicted}[{window}])) > 0)"
        )

    def last_working_set(self, window_seconds: float, scope: Scope = CLUSTER_WIDE) -> str:
        """The last working set inside the window: what an evicted pod used before it went."""
        selector = self.select(CADVISOR_FIGURES["working_set"], scope, CADVISOR_ONLY)
        return self.per_container(f"last_over_time({selector}[{promql_duration(window_seconds)}])")

    def bundle(self, figures: dict[str, str]) -> str:
        """Several figures in one query, each row tagged with its figure: one round trip for
        answers too small to be worth parallel parsing."""
        return " or ".join(
            f'label_replace(({expression}), "{FIGURE_LABEL}", "{name}", "", "")'
            for name, expression in figures.items()
        )

    def history(self, scope: Scope) -> str:
        """All cAdvisor figures of the scoped pod in one range query, tagged by figure."""
        return " or ".join(
            f'label_replace({self.figure(metric, scope)}, "{SOURCE_LABEL}", "{figure}", "", "")'
            for figure, metric in CADVISOR_FIGURES.items()
        )


# Pods whose histories share one range query: a bounded regex, a bounded answer.
HISTORY_BATCH = 50


def range_step_seconds(range_seconds: float, *, minimum: float = 15.0) -> float:
    """A step that keeps a range query under Prometheus's 11 000 points per series."""
    return max(minimum, float(int(range_seconds / 10_000) + 1))
