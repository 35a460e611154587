"""The Kubernetes stand-in, exercised only through the real ``kubernetes`` client over HTTP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.k8s_standin import (
    EXPIRED_MESSAGE,
    SAMPLE_YAML,
    KubeStandIn,
    container,
    container_status,
    make_cronjob,
    make_daemonset,
    make_deployment,
    make_event,
    make_job,
    make_pod,
    make_replicaset,
    make_statefulset,
    running_state,
    terminated_state,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
OOM_AT = datetime(2024, 5, 1, 11, 42, 17, tzinfo=UTC)


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn() as k:
        yield k


@pytest.fixture
def core(kube: KubeStandIn) -> client.CoreV1Api:
    return client.CoreV1Api(kube.api_client())


def status_body(exc: ApiException) -> dict[str, Any]:
    """The error's body, checked to be a real ``kind: Status``."""
    body: dict[str, Any] = json.loads(exc.body)
    assert (body["kind"], body["apiVersion"], body["status"]) == ("Status", "v1", "Failure")
    assert body["code"] == exc.status
    return body


def names(items: list[client.V1Pod]) -> list[str]:
    return [f"{i.metadata.namespace}/{i.metadata.name}" for i in items]


def test_list_all_namespaces_pages_through_everything_in_key_order(
    kube: KubeStandIn, core: client.CoreV1Api
) -> None:
    for ns in ("zeta", "alpha", "mid"):
        for i in range(3):
            kube.add(make_pod(ns, f"pod-{i}"))
    seen: list[str] = []
    token = None
    while True:
        page = core.list_pod_for_all_namespaces(limit=4, _continue=token)
        seen += names(page.items)
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 9 - len(seen)
    assert seen == sorted(seen)
    assert len(seen) == 9
    assert seen[0] == "alpha/pod-0"
    assert kube.request_count(r"^/api/v1/pods$") == 3
    unpaged = core.list_pod_for_all_namespaces()
    assert unpaged.metadata._continue is None
    assert names(unpaged.items) == seen


def test_namespaced_list_with_label_and_field_selectors(
    kube: KubeStandIn, core: client.CoreV1Api
) -> None:
    kube.add(make_pod("shop", "web-1", labels={"app": "web", "tier": "front"}, node="node-1"))
    kube.add(make_pod("shop", "web-2", labels={"app": "web"}, node="node-2"))
    kube.add(make_pod("shop", "db-0", labels={"app": "db"}, node="node-1", phase="Pending"))
    kube.add(make_pod("other", "web-9", labels={"app": "web"}, node="node-1"))

    def listed(**kwargs: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("shop", **kwargs).items]

    assert listed(label_selector="app=web") == ["web-1", "web-2"]
    assert listed(label_selector="app==web,tier") == ["web-1"]
    assert listed(label_selector="app!=web") == ["db-0"]
    assert listed(label_selector="app in (db, web),!tier") == ["db-0", "web-2"]
    assert listed(label_selector="app notin (web)") == ["db-0"]
    assert listed(field_selector="spec.nodeName=node-1") == ["db-0", "web-1"]
    assert listed(field_selector="spec.nodeName=node-1,status.phase!=Pending") == ["web-1"]
    assert listed(field_selector="metadata.name==web-2", label_selector="app=web") == ["web-2"]

    page = core.list_namespaced_pod("shop", label_selector="app=web", limit=1)
    assert [p.metadata.name for p in page.items] == ["web-1"]
    assert page.metadata.remaining_item_count is None  # the real API omits it when filtering
    rest = core.list_namespaced_pod(
        "shop", label_selector="app=web", _continue=page.metadata._continue
    )
    assert [p.metadata.name for p in rest.items] == ["web-2"]

    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("shop", label_selector="app in web")
    assert (err.value.status, status_body(err.value)["reason"]) == (400, "BadRequest")
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("shop", field_selector="spec.containers.image=x")
    assert err.value.status == 400
    body = status_body(err.value)
    assert body["reason"] == "BadRequest"
    assert body["message"] == "field label not supported: spec.containers.image"


def test_read_pod_deserialises_oom_kill(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    kube.add(
        make_pod(
            "shop",
            "web-1",
            [container("app", memory_limit="256Mi"), "sidecar"],
            init_containers=["migrate"],
            created=T0,
            container_statuses=[
                container_status(
                    "app",
                    state=running_state(OOM_AT),
                    last_state=terminated_state(started_at=T0, finished_at=OOM_AT),
                    restart_count=4,
                ),
                container_status("sidecar", state=running_state(T0)),
            ],
        )
    )
    pod = core.read_namespaced_pod("web-1", "shop")
    assert isinstance(pod, client.V1Pod)
    app = pod.status.container_statuses[0]
    assert app.last_state.terminated.reason == "OOMKilled"
    assert app.last_state.terminated.exit_code == 137
    assert isinstance(app.last_state.terminated.finished_at, datetime)
    assert app.last_state.terminated.finished_at == OOM_AT
    assert app.restart_count == 4
    assert app.container_id.startswith("containerd://")
    assert pod.spec.containers[0].resources.limits == {"memory": "256Mi"}
    assert pod.spec.init_containers[0].name == "migrate"
    assert pod.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert pod.metadata.creation_timestamp == T0
    assert pod.status.qos_class == "Burstable"


def test_sample_yaml_loads_and_reads_back(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    assert len(kube.load_yaml(SAMPLE_YAML)) == 2
    web = core.read_namespaced_pod("web-7d9c6b5f4-x2x7q", "shop")
    assert web.status.container_statuses[0].last_state.terminated.reason == "OOMKilled"
    assert web.metadata.owner_references[0].controller is True
    never = core.read_namespaced_pod("report-28571520-kq8zl", "batch")
    assert never.spec.restart_policy == "Never"
    assert never.status.container_statuses[0].state.terminated.exit_code == 137


def test_missing_object_is_404_status(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("ghost", "shop")
    assert err.value.status == 404
    body = status_body(err.value)
    assert body["reason"] == "NotFound"
    assert body["message"] == 'pods "ghost" not found'
    assert body["details"] == {"name": "ghost", "kind": "pods"}


def test_injected_403_then_recovers(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    kube.add(make_pod("shop", "web-1"))
    kube.fail_next(method="GET", path_regex=r"/api/v1/pods", status=403, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            core.list_pod_for_all_namespaces()
        assert err.value.status == 403
        assert status_body(err.value)["reason"] == "Forbidden"
    assert len(core.list_pod_for_all_namespaces().items) == 1


def test_forbid_gives_rbac_message_only_where_matched(
    kube: KubeStandIn, core: client.CoreV1Api
) -> None:
    kube.forbid(r"^/api/v1/pods$")
    with pytest.raises(ApiException) as err:
        core.list_pod_for_all_namespaces()
    assert err.value.status == 403
    body = status_body(err.value)
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'pods is forbidden: User "system:serviceaccount:podmem:podmem" cannot list resource '
        '"pods" in API group "" at the cluster scope'
    )
    assert core.list_namespaced_pod("shop").items == []
    kube.forbid(r"/leases/", verbs=["update"])
    leases = client.CoordinationV1Api(kube.api_client())
    lease = leases.create_namespaced_lease("podmem", lease_body("podmem-leader"))
    with pytest.raises(ApiException) as err:
        leases.replace_namespaced_lease("podmem-leader", "podmem", lease)
    assert json.loads(err.value.body)["message"].startswith(
        'leases.coordination.k8s.io "podmem-leader" is forbidden: User '
    )


def test_expired_continue_token_is_410_with_fresh_token(
    kube: KubeStandIn, core: client.CoreV1Api
) -> None:
    for i in range(5):
        kube.add(make_pod("shop", f"pod-{i}"))
    first = core.list_namespaced_pod("shop", limit=2)
    kube.expire_continue_tokens()
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("shop", limit=2, _continue=first.metadata._continue)
    assert err.value.status == 410
    body = status_body(err.value)
    assert body["reason"] == "Expired"
    assert body["message"] == EXPIRED_MESSAGE
    # The real server hands back a token that continues (inconsistently) from the same key.
    rest = core.list_namespaced_pod("shop", _continue=body["metadata"]["continue"])
    assert [p.metadata.name for p in rest.items] == ["pod-2", "pod-3", "pod-4"]
    fresh = core.list_namespaced_pod("shop", limit=2)
    more = core.list_namespaced_pod("shop", limit=2, _continue=fresh.metadata._continue)
    assert [p.metadata.name for p in more.items] == ["pod-2", "pod-3"]


def test_injected_410_uses_expired_reason(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    kube.fail_next(path_regex=r"/pods", status=410)
    with pytest.raises(ApiException) as err:
        core.list_pod_for_all_namespaces(limit=10, _continue="whatever")
    assert err.value.status == 410
    assert status_body(err.value)["reason"] == "Expired"


def test_events_filtered_by_involved_object(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    web = kube.add(make_pod("shop", "web-1"))
    db = kube.add(make_pod("shop", "db-0"))
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-1", "uid": "n1"}}
    kube.add(make_event("shop", web, "BackOff", "Back-off restarting failed container app"))
    kube.add(make_event("shop", db, "Evicted", "The node was low on resource: memory."))
    kube.add(
        make_event(
            "default",
            node,
            "OOMKilling",
            "Memory cgroup out of memory: Killed process 4242 (python)",
            component="kernel-monitor",
        )
    )

    def reasons(selector: str) -> list[str]:
        events = core.list_event_for_all_namespaces(field_selector=selector).items
        return sorted(e.reason for e in events)

    assert reasons("involvedObject.name=web-1") == ["BackOff"]
    assert reasons("involvedObject.kind=Pod,involvedObject.namespace=shop") == [
        "BackOff",
        "Evicted",
    ]
    assert reasons(f"involvedObject.uid={db['metadata']['uid']}") == ["Evicted"]
    assert reasons("involvedObject.kind=Node,reason=OOMKilling,type=Warning") == ["OOMKilling"]
    assert reasons("source=kernel-monitor") == ["OOMKilling"]
    evicted = core.list_namespaced_event("shop", field_selector="reason==Evicted").items[0]
    assert evicted.involved_object.name == "db-0"
    assert isinstance(evicted.last_timestamp, datetime)


def test_owner_chain_is_readable(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    deploy = kube.add(make_deployment("shop", "web", replicas=2))
    rs = kube.add(make_replicaset("shop", "web-7d9c6b5f4", owner=deploy, replicas=2))
    kube.add(make_pod("shop", "web-7d9c6b5f4-abcde", owner=rs))
    cron = kube.add(make_cronjob("batch", "report"))
    job = kube.add(make_job("batch", "report-28571520", owner=cron, failed=1))
    kube.add(make_pod("batch", "report-28571520-kq8zl", owner=job, restart_policy="Never"))
    kube.add(make_statefulset("data", "pg", replicas=3))
    kube.add(make_daemonset("kube-system", "node-exporter", nodes=4))

    apps = client.AppsV1Api(kube.api_client())
    batch = client.BatchV1Api(kube.api_client())
    pod_owner = core.read_namespaced_pod("web-7d9c6b5f4-abcde", "shop").metadata.owner_references
    assert (pod_owner[0].kind, pod_owner[0].controller) == ("ReplicaSet", True)
    replica_set = apps.read_namespaced_replica_set(pod_owner[0].name, "shop")
    assert replica_set.metadata.uid == pod_owner[0].uid
    rs_owner = replica_set.metadata.owner_references[0]
    assert (rs_owner.kind, rs_owner.api_version) == ("Deployment", "apps/v1")
    deployment = apps.read_namespaced_deployment(rs_owner.name, "shop")
    assert deployment.metadata.uid == rs_owner.uid
    assert deployment.spec.replicas == 2

    job_ref = core.read_namespaced_pod("report-28571520-kq8zl", "batch").metadata.owner_references
    read_job = batch.read_namespaced_job(job_ref[0].name, "batch")
    assert read_job.status.failed == 1
    cron_ref = read_job.metadata.owner_references[0]
    assert batch.read_namespaced_cron_job(cron_ref.name, "batch").spec.schedule == "*/5 * * * *"
    assert apps.read_namespaced_stateful_set("pg", "data").status.replicas == 3
    assert apps.read_namespaced_daemon_set("node-exporter", "kube-system").status.number_ready == 4


def lease_body(name: str, holder: str = "pod-a") -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=15, renew_time=datetime.now(UTC)
        ),
    )


def test_lease_optimistic_concurrency(kube: KubeStandIn) -> None:
    leases = client.CoordinationV1Api(kube.api_client())
    created = leases.create_namespaced_lease("podmem", lease_body("podmem-leader"))
    assert created.metadata.uid
    assert created.metadata.resource_version
    with pytest.raises(ApiException) as err:
        leases.create_namespaced_lease("podmem", lease_body("podmem-leader"))
    assert (err.value.status, status_body(err.value)["reason"]) == (409, "AlreadyExists")

    mine = leases.read_namespaced_lease("podmem-leader", "podmem")
    theirs = leases.read_namespaced_lease("podmem-leader", "podmem")
    mine.spec.holder_identity = "pod-b"
    renewed = leases.replace_namespaced_lease("podmem-leader", "podmem", mine)
    assert renewed.spec.holder_identity == "pod-b"
    assert int(renewed.metadata.resource_version) > int(created.metadata.resource_version)
    assert renewed.metadata.uid == created.metadata.uid

    theirs.spec.holder_identity = "pod-c"
    with pytest.raises(ApiException) as err:
        leases.replace_namespaced_lease("podmem-leader", "podmem", theirs)
    assert err.value.status == 409
    body = status_body(err.value)
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in str(body["message"])
    assert leases.read_namespaced_lease("podmem-leader", "podmem").spec.holder_identity == "pod-b"
    assert kube.get("coordination.k8s.io/v1", "Lease", "podmem-leader", "podmem") is not None


def test_configmap_merge_and_json_patch_and_delete(
    kube: KubeStandIn, core: client.CoreV1Api
) -> None:
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="state"), data={"a": "1", "b": "2"})
    core.create_namespaced_config_map("podmem", cm)
    patched = core.patch_namespaced_config_map("state", "podmem", {"data": {"b": None, "c": "3"}})
    assert patched.data == {"a": "1", "c": "3"}
    ops = [{"op": "replace", "path": "/data/a", "value": "9"}]
    assert core.patch_namespaced_config_map("state", "podmem", ops).data == {"a": "9", "c": "3"}
    stale = {"metadata": {"resourceVersion": "1"}, "data": {"a": "0"}}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("state", "podmem", stale)
    assert err.value.status == 409
    # v37 types this delete as a bare "object", so the Status arrives as a dict.
    assert core.delete_namespaced_config_map("state", "podmem")["status"] == "Success"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("state", "podmem")
    assert err.value.status == 404


def test_status_is_only_written_through_the_subresource(
    kube: KubeStandIn, core: client.CoreV1Api
) -> None:
    kube.add(make_pod("shop", "web-1", phase="Running"))
    pod = core.read_namespaced_pod("web-1", "shop")
    pod.status.phase = "Failed"
    pod.metadata.labels = {"app": "changed"}
    replaced = core.replace_namespaced_pod("web-1", "shop", pod)
    assert (replaced.status.phase, replaced.metadata.labels) == ("Running", {"app": "changed"})
    patched = core.patch_namespaced_pod_status("web-1", "shop", {"status": {"phase": "Failed"}})
    assert patched.status.phase == "Failed"


def test_request_accounting(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    kube.add(make_pod("shop", "web-1"))
    core.read_namespaced_pod("web-1", "shop")
    core.list_namespaced_pod("shop", label_selector="app=web-1")
    client.AppsV1Api(kube.api_client()).list_replica_set_for_all_namespaces()
    assert kube.request_count() == 3
    assert kube.request_count(r"/pods") == 2
    assert kube.request_count(r"/pods$", method="get") == 1
    assert kube.requests[1] == (
        "GET",
        "/api/v1/namespaces/shop/pods",
        {"labelSelector": "app=web-1"},
    )
    kube.clear_requests()
    assert kube.request_count() == 0


def test_watch_ends_immediately(kube: KubeStandIn, core: client.CoreV1Api) -> None:
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_pod, "shop", timeout_seconds=300))
    assert events == []
    assert time.monotonic() - started < 150  # ended by the stand-in, not by the timeout


def test_discovery_and_version(kube: KubeStandIn) -> None:
    api_client = kube.api_client()
    assert client.VersionApi(api_client).get_code().git_version.startswith("v1.")
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apps", "batch", "coordination.k8s.io", "events.k8s.io"} <= groups
    core_resources = client.CoreV1Api(api_client).get_api_resources().resources
    assert {"pods", "events", "configmaps", "namespaces", "pods/status"} <= {
        r.name for r in core_resources
    }


def test_events_k8s_io_and_cluster_scoped_namespaces(kube: KubeStandIn) -> None:
    kube.add(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web-1.17a", "namespace": "shop"},
            "eventTime": "2024-05-01T11:42:17.000000Z",
            "regarding": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
            "reason": "Killing",
            "type": "Normal",
        }
    )
    events = client.EventsV1Api(kube.api_client()).list_namespaced_event(
        "shop", field_selector="regarding.name=web-1"
    )
    assert [e.reason for e in events.items] == ["Killing"]
    core = client.CoreV1Api(kube.api_client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="shop")))
    assert [n.metadata.name for n in core.list_namespace().items] == ["shop"]
    assert core.read_namespace("shop").metadata.creation_timestamp.tzinfo is not None


def test_bearer_token_is_checked() -> None:
    with KubeStandIn(token="s3cret") as kube:
        assert client.CoreV1Api(kube.api_client()).list_namespaced_pod("shop").items == []
        wrong = kube.configuration()
        wrong.api_key = {"authorization": "nope"}
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(client.ApiClient(wrong)).list_namespaced_pod("shop")
        assert err.value.status == 401


def test_stop_closes_the_port() -> None:
    with KubeStandIn() as kube:
        core = client.CoreV1Api(kube.api_client())
        core.list_namespaced_pod("shop")
        port = int(kube.url.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_create_and_delete_pod_through_the_client(
    kube: KubeStandIn, core: client.CoreV1Api
) -> None:
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(generate_name="web-", labels={"app": "web"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="web:1")]),
        status=client.V1PodStatus(phase="Running"),
    )
    created = core.create_namespaced_pod("shop", body)
    assert created.metadata.name.startswith("web-")
    assert created.metadata.namespace == "shop"
    assert created.status.phase == "Pending"  # status is not writable on create
    assert created.metadata.creation_timestamp.tzinfo is not None
    deleted = core.delete_namespaced_pod(created.metadata.name, "shop")
    assert deleted.metadata.uid == created.metadata.uid  # pods come back from DELETE
    assert kube.get("v1", "Pod", created.metadata.name, "shop") is None
    assert kube.request_count(method="POST") == 1
