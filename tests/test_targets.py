import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InputError
from bot.model import PodName
from bot.promql import Scope
from bot.targets import ResolutionError, Target, parse_target, resolve

PODS = [
    PodName("", "shop", "api-7d9f-x2"),
    PodName("", "shop", "api-7d9f-y3"),
    PodName("", "shop", "cart-5c4b-q1"),
    PodName("", "shop", "web"),
    PodName("", "shop", "web-canary"),
    PodName("", "a", "twin-1"),
    PodName("", "b", "twin-1"),
    PodName("east", "shop", "cart-5c4b-q1"),
]


def lookup(scope: Scope) -> list[PodName]:
    """The resolution rules under test get a plain list; Prometheus is tested elsewhere."""
    return sorted(
        p
        for p in PODS
        if (scope.namespace is None or p.namespace == scope.namespace)
        and (scope.pod_prefix is None or p.pod.startswith(scope.pod_prefix))
    )


@pytest.mark.parametrize(
    ("text", "namespace", "target"),
    [
        ("api-7d9f-x2", None, Target("api-7d9f-x2")),
        ("shop/api-7d9f-x2", None, Target("api-7d9f-x2", "shop")),
        ("api-7d9f-x2", "shop", Target("api-7d9f-x2", "shop")),
        ("  api  ", None, Target("api")),
        ("shop/api", "shop", Target("api", "shop")),
    ],
)
def test_parse(text: str, namespace: str | None, target: Target) -> None:
    assert parse_target(text, namespace) == target


@pytest.mark.parametrize(
    ("text", "namespace", "message"),
    [
        ('x"}) or vector(1) or up{a="', None, "is not a pod name"),
        ("API-7d9f", None, "is not a pod name"),
        ("", None, "name a pod"),
        ("shop/", None, "is not a pod name"),
        ("Shop/api", None, "is not a namespace name"),
        ("api", "sh op", "is not a namespace name"),
        ("shop/api", "other", "give one"),
        ("a" * 254, None, "at most 253"),
        ("api\nup", None, "is not a pod name"),
    ],
)
def test_bad_targets_get_a_clear_error(text: str, namespace: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_target(text, namespace)


@given(st.text(max_size=80))
def test_nothing_but_kubernetes_names_gets_through(text: str) -> None:
    try:
        target = parse_target(text)
    except InputError:
        return
    assert set(target.pod) <= set("abcdefghijklmnopqrstuvwxyz0123456789-.")
    assert '"' not in str(target) and "{" not in str(target)


def test_exact_name_wins_over_prefix() -> None:
    assert resolve(Target("web"), lookup) == [PodName("", "shop", "web")]


def test_unique_prefix() -> None:
    assert resolve(Target("web-c"), lookup) == [PodName("", "shop", "web-canary")]


def test_ambiguous_prefix_names_all() -> None:
    with pytest.raises(ResolutionError, match="matches 2 pods: shop/api-7d9f-x2, shop/api-7d9f-y3"):
        resolve(Target("api"), lookup)


def test_same_name_in_two_namespaces_is_never_picked() -> None:
    with pytest.raises(ResolutionError, match="a/twin-1, b/twin-1") as caught:
        resolve(Target("twin-1"), lookup)
    assert len(caught.value.candidates) == 2
    assert resolve(Target("twin-1", "b"), lookup) == [PodName("", "b", "twin-1")]


def test_same_pod_in_two_clusters_is_both_rows() -> None:
    assert resolve(Target("cart"), lookup) == [
        PodName("", "shop", "cart-5c4b-q1"),
        PodName("east", "shop", "cart-5c4b-q1"),
    ]


def test_a_cluster_narrows_the_pods_to_its_own() -> None:
    assert resolve(Target("cart", cluster="east"), lookup) == [
        PodName("east", "shop", "cart-5c4b-q1")
    ]
    assert parse_target("shop/cart", cluster="east") == Target("cart", "shop", "east")
    with pytest.raises(ResolutionError, match="of cluster east") as caught:
        resolve(Target("web", cluster="east"), lookup)  # web runs in the unnamed cluster only
    assert all(p.cluster == "east" for p in caught.value.candidates)


@pytest.mark.parametrize("cluster", ['x"}) or vector(1', "eu 1", "", "-eu", "e" * 64])
def test_a_cluster_name_is_refused_unless_it_looks_like_one(cluster: str) -> None:
    with pytest.raises(InputError, match="is not a cluster name"):
        parse_target("web", cluster=cluster)


def test_a_suggestion_never_lists_every_pod() -> None:
    asked: list[Scope] = []

    def recording(scope: Scope) -> list[PodName]:
        asked.append(scope)
        return lookup(scope)

    with pytest.raises(ResolutionError, match="Closest: shop/cart-5c4b-q1"):
        resolve(Target("cart-5c4x-q1"), recording)
    assert asked and all(scope.pod_prefix for scope in asked)  # always a prefix, never all


def test_not_found_offers_closest() -> None:
    with pytest.raises(ResolutionError, match="Closest: shop/cart-5c4b-q1") as caught:
        resolve(Target("cartt-5c4b-q1", "shop"), lookup)
    assert caught.value.candidates
