import pytest

from bot.promql import CLUSTER_WIDE, QueryBuilder, Scope, range_step_seconds, string_literal

HOSTILE = 'x"}) or vector(1) or up{a="'


def test_figures_drop_pause_and_pod_level_and_collapse_duplicates() -> None:
    query = QueryBuilder().figure("container_memory_working_set_bytes")
    assert query.startswith("max by (cluster, namespace, pod, container) (")
    assert 'container!=""' in query and 'container!="POD"' in query


def test_cluster_label_is_configurable() -> None:
    assert "max by (k8s_cluster, namespace, pod, container)" in QueryBuilder("k8s_cluster").limits()


def test_limits_prefer_ksm_v2_then_v1_then_cadvisor() -> None:
    query = QueryBuilder().limits()
    v2 = query.index('kube_pod_container_resource_limits{resource="memory"}')
    v1 = query.index("kube_pod_container_resource_limits_memory_bytes")
    cadvisor = query.index("container_spec_memory_limit_bytes")
    assert v2 < v1 < cadvisor
    assert query.count("or on(cluster, namespace, pod, container)") == 3  # + native sidecars


def test_cluster_wide_queries_have_no_pod_matchers() -> None:
    q = QueryBuilder()
    for query in (q.limits(CLUSTER_WIDE), q.requests(), q.working_set_floor(300)):
        assert "pod=" not in query and "namespace=" not in query


def test_string_literal_escapes_everything_that_could_break_out() -> None:
    assert string_literal(HOSTILE) == '"x\\"}) or vector(1) or up{a=\\""'
    assert string_literal("a\\b\nc") == '"a\\\\b\\nc"'


def test_scoped_queries_quote_names() -> None:
    query = QueryBuilder().figure("container_memory_rss", Scope("default", HOSTILE))
    # The hostile text is inside one string literal: the quote is escaped.
    assert 'pod="x\\"}) or vector(1) or up{a=\\""' in query


def test_prefix_is_regex_escaped() -> None:
    assert 'pod=~"api\\\\.v1.*"' in QueryBuilder().pods(Scope(pod_prefix="api.v1"))


def test_windows_are_whole_seconds() -> None:
    assert "[300s]" in QueryBuilder().working_set_floor(300)
    assert "[1800s]" in QueryBuilder().working_set_growth(1800.4)


@pytest.mark.parametrize("hours", [1, 3, 24, 24 * 7, 24 * 30])
def test_range_step_stays_under_11000_points(hours: int) -> None:
    seconds = hours * 3600
    assert seconds / range_step_seconds(seconds) < 11_000
