"""An in-process Kubernetes API server stand-in for tests.

``KubeStandIn`` speaks the real REST paths and JSON, so the real ``kubernetes``
client talks to it over HTTP, unpatched::

    with KubeStandIn() as kube:
        kube.load_yaml(SAMPLE_YAML)  # or kube.add(make_pod(...))
        core = kubernetes.client.CoreV1Api(kube.api_client())
        pod = core.read_namespaced_pod("web-7d9c6b5f4-x2x7q", "shop")
        kube.fail_next(path_regex=r"/pods$", status=403)  # or forbid(), expire_continue_tokens()
        assert kube.request_count(r"/pods") == 1

Deliberate simplifications: lists are served from live state, not from the
snapshot named in a continue token; strategic-merge patches are applied as JSON
merge patches (lists are replaced, not merged by key); writes through the client
never set ``status`` except via the ``/status`` subresource (seed with ``add``);
deletes are immediate (no finalizers or grace periods); core ``v1`` and
``events.k8s.io/v1`` events are stored separately. ``watch=true`` gets an empty
stream: ``Watch().stream`` then returns, unless given a ``resource_version``
without ``timeout_seconds``, in which case it reconnects forever.

Sample cluster state (``SAMPLE_YAML``): a pod whose ``app`` container was
OOM-killed and restarted, and a ``restartPolicy: Never`` pod that died for good.
---8<---
    apiVersion: v1
    kind: Pod
    metadata:
      name: web-7d9c6b5f4-x2x7q
      namespace: shop
      uid: 5b1f3c2e-8a4d-4e1b-9c7a-2f6d8e9a0b1c
      creationTimestamp: "2024-05-01T09:00:00Z"
      labels: {app: web, pod-template-hash: 7d9c6b5f4}
      ownerReferences:
      - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9c6b5f4,
         uid: 0e7c1a52-3b9f-4d26-8f0e-6a1d2c3b4e5f, controller: true, blockOwnerDeletion: true}
    spec:
      nodeName: node-1
      restartPolicy: Always
      initContainers:
      - name: migrate
        image: registry.example.com/web-migrate:1.4.2
        resources: {limits: {memory: 128Mi}, requests: {cpu: 50m, memory: 128Mi}}
      containers:
      - name: app
        image: registry.example.com/web:1.4.2
        resources: {limits: {memory: 256Mi}, requests: {cpu: 100m, memory: 256Mi}}
      - name: sidecar
        image: registry.example.com/envoy:1.30.1
        resources: {limits: {memory: 64Mi}, requests: {cpu: 10m, memory: 64Mi}}
    status:
      phase: Running
      qosClass: Burstable
      hostIP: 10.0.0.11
      podIP: 10.244.1.17
      startTime: "2024-05-01T09:00:00Z"
      initContainerStatuses:
      - name: migrate
        image: registry.example.com/web-migrate:1.4.2
        imageID: registry.example.com/web-migrate@sha256:4c1e0f3a9b2d
        containerID: containerd://9f2b6c1d4e7a
        ready: true
        restartCount: 0
        started: false
        lastState: {}
        state:
          terminated: {reason: Completed, exitCode: 0, containerID: containerd://9f2b6c1d4e7a,
                       startedAt: "2024-05-01T09:00:02Z", finishedAt: "2024-05-01T09:00:05Z"}
      containerStatuses:
      - name: app
        image: registry.example.com/web:1.4.2
        imageID: registry.example.com/web@sha256:8d3f9e2a1c7b
        containerID: containerd://b7e4a2c9d1f0
        ready: true
        restartCount: 3
        started: true
        state:
          running: {startedAt: "2024-05-01T11:42:19Z"}
        lastState:
          terminated: {reason: OOMKilled, exitCode: 137, containerID: containerd://3a8c5e1f7b2d,
                       startedAt: "2024-05-01T11:02:07Z", finishedAt: "2024-05-01T11:42:17Z"}
      - name: sidecar
        image: registry.example.com/envoy:1.30.1
        imageID: registry.example.com/envoy@sha256:1a2b3c4d5e6f
        containerID: containerd://c4d2e8f1a9b3
        ready: true
        restartCount: 0
        started: true
        state:
          running: {startedAt: "2024-05-01T09:00:06Z"}
        lastState: {}
    ---
    apiVersion: v1
    kind: Pod
    metadata:
      name: report-28571520-kq8zl
      namespace: batch
      creationTimestamp: "2024-05-01T10:00:00Z"
      labels: {job-name: report-28571520}
    spec:
      nodeName: node-2
      restartPolicy: Never
      containers:
      - name: report
        image: registry.example.com/report:2.0.0
        resources: {limits: {memory: 1Gi}, requests: {cpu: 500m, memory: 1Gi}}
    status:
      phase: Failed
      qosClass: Burstable
      containerStatuses:
      - name: report
        image: registry.example.com/report:2.0.0
        imageID: registry.example.com/report@sha256:5e6f7a8b9c0d
        containerID: containerd://e1f2a3b4c5d6
        ready: false
        restartCount: 0
        started: false
        lastState: {}
        state:
          terminated: {reason: OOMKilled, exitCode: 137, containerID: containerd://e1f2a3b4c5d6,
                       startedAt: "2024-05-01T10:00:04Z", finishedAt: "2024-05-01T10:03:51Z"}
---8<---
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import socket
import textwrap
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, TypedDict, Unpack
from urllib.parse import parse_qs, unquote, urlsplit

import kubernetes.client
import yaml

JSON = dict[str, Any]

SAMPLE_YAML = textwrap.dedent((__doc__ or "").split("---8<---")[1])
DEFAULT_USER = "system:serviceaccount:podmem:podmem"
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, modified, "
    "or deleted between the time the first chunk was returned and now may show up in the list."
)
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_NOT_FOUND_PATH = "the server could not find the requested resource"
_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4",
    "gitTreeState": "clean",
    "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
    "buildDate": "2024-12-10T11:36:36Z",
    "goVersion": "go1.22.9",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class Resource:
    """One REST resource; ``fields`` are the field-selector labels it accepts
    besides ``metadata.name``/``metadata.namespace`` (the real server rejects others)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    fields: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def qualified(self) -> str:  # how error messages name a resource: "deployments.apps"
        return f"{self.plural}.{self.group}" if self.group else self.plural


_REF = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
_STATUS = ("status",)
_POD_FIELDS = (
    *("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName"),
    *("spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
)
_EVENT_FIELDS = (
    *(f"involvedObject.{f}" for f in _REF),
    "reason",
    "reportingComponent",
    "source",
    "type",
)
DEFAULT_RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "pods", "Pod", fields=_POD_FIELDS, subresources=_STATUS),
    Resource("", "v1", "events", "Event", fields=_EVENT_FIELDS),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "namespaces", "Namespace", False, ("status.phase",), _STATUS),
    Resource("", "v1", "nodes", "Node", False, ("spec.unschedulable",), _STATUS),
    Resource(
        "apps", "v1", "replicasets", "ReplicaSet", fields=("status.replicas",), subresources=_STATUS
    ),
    Resource("apps", "v1", "deployments", "Deployment", subresources=_STATUS),
    Resource("apps", "v1", "statefulsets", "StatefulSet", subresources=_STATUS),
    Resource("apps", "v1", "daemonsets", "DaemonSet", subresources=_STATUS),
    Resource("batch", "v1", "jobs", "Job", fields=("status.successful",), subresources=_STATUS),
    Resource("batch", "v1", "cronjobs", "CronJob", subresources=_STATUS),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        fields=(*(f"regarding.{f}" for f in _REF), "reason", "reportingController", "type"),
    ),
)
_FIELD_PATHS = {"source": "source.component"}  # field labels that are not plain JSON paths


class StatusError(Exception):
    """Raised inside request handling; becomes a ``kind: Status`` response."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: JSON | None = None,
        metadata: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details, self.metadata = details, metadata or {}

    def body(self) -> JSON:
        status: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


class RecordedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]


@dataclass
class _Fault:
    method: str | None
    path_regex: str | None
    status: int
    times: int
    reason: str | None
    message: str | None
    headers: dict[str, str]


@dataclass(frozen=True)
class _Target:
    res: Resource
    namespace: str | None  # None: all namespaces, or a cluster-scoped resource
    name: str | None
    sub: str | None


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str]
    close: bool = False


def _details(res: Resource, name: str | None = None) -> JSON:
    d: JSON = {"name": name} if name else {}
    if res.group:
        d["group"] = res.group
    return d | {"kind": res.plural}


def _key(res: Resource, obj: JSON) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return res.prefix, res.plural, meta.get("namespace", ""), meta["name"]


def _etcd_key(obj: JSON) -> str:
    # The real API returns items in etcd key order: "namespace/name" compared as a string.
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}" if meta.get("namespace") else meta["name"]


def _parse_label_selector(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """Parse into (key, operator, values) requirements that are ANDed together."""
    reqs: list[tuple[str, str, frozenset[str]]] = []
    key, value = r"([A-Za-z0-9][-A-Za-z0-9_./]*)", r"([-A-Za-z0-9_.]*)"
    for term in (t.strip() for t in re.split(r",(?![^()]*\))", text)):
        if not term:
            continue
        if m := re.fullmatch(rf"(!?)\s*{key}", term):
            reqs.append((m[2], "!" if m[1] else "exists", frozenset()))
        elif m := re.fullmatch(rf"{key}\s*(==|=|!=)\s*{value}", term):
            reqs.append((m[1], "notin" if m[2] == "!=" else "in", frozenset({m[3]})))
        elif m := re.fullmatch(rf"{key}\s+(in|notin)\s*\(([^()]*)\)", term):
            reqs.append((m[1], m[2], frozenset(v.strip() for v in m[3].split(","))))
        elif m := re.fullmatch(rf"{key}\s*([<>])\s*(-?\d+)", term):
            reqs.append((m[1], m[2], frozenset({m[3]})))
        else:
            raise StatusError(400, f"unable to parse requirement: found '{term}'")
    return reqs


def _labels_match(labels: dict[str, str], reqs: list[tuple[str, str, frozenset[str]]]) -> bool:
    for key, op, values in reqs:
        value = labels.get(key)
        if op in ("<", ">"):
            number = int(value) if value and re.fullmatch(r"-?\d+", value) else None
            bound = int(next(iter(values)))
            ok = number is not None and (number > bound if op == ">" else number < bound)
        else:
            ok = {
                "exists": value is not None,
                "!": value is None,
                "in": value in values,
                "notin": value not in values,
            }[op]
        if not ok:
            return False
    return True


def _field_value(obj: JSON, label: str) -> str:
    value: Any = obj
    for part in _FIELD_PATHS.get(label, label).split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def _parse_field_selector(res: Resource, text: str) -> list[tuple[str, bool, str]]:
    """Parse into (label, negated, value) requirements that are ANDed together."""
    reqs: list[tuple[str, bool, str]] = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        m = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", term)
        if not m:
            raise StatusError(400, f"invalid selector: '{text}'; can't understand '{term}'")
        if m[1] not in ("metadata.name", "metadata.namespace", *res.fields):
            raise StatusError(400, f"field label not supported: {m[1]}")
        reqs.append((m[1], m[2] == "!=", m[3]))
    return reqs


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def json_patch(doc: Any, ops: list[JSON]) -> Any:
    """The add/remove/replace/test subset of RFC 6902 JSON patch."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]
        ]
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        idx: Any = last
        if isinstance(node, list):
            idx = len(node) if last == "-" else int(last)
        match op["op"]:
            case "test" if node[idx] != op["value"]:
                raise StatusError(422, f"testing value {op['path']} failed")
            case "remove":
                del node[idx]
            case "replace":
                node[idx] = op["value"]
            case "add" if isinstance(node, list):
                node.insert(idx, op["value"])
            case "add":
                node[idx] = op["value"]
    return doc


def _is_watch(query: dict[str, str]) -> bool:
    return query.get("watch") in ("true", "1")


def _decode_body(method: str, raw: bytes) -> Any:
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise StatusError(400, f"couldn't get version/kind; json parse error: {exc}") from exc
    expected: dict[str, tuple[type, ...]] = {"POST": (dict,), "PUT": (dict,), "PATCH": (dict, list)}
    if method in expected and not isinstance(body, expected[method]):
        raise StatusError(400, f"the request body for {method} must be a JSON object")
    return body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    kube: KubeStandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server; saves a connect per call
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; with Nagle's algorithm on, the client's
        # delayed ACK would stall every keep-alive request by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.kube._lock:
            self.server.kube._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.kube._lock:
            self.server.kube._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def _handle(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.kube._dispatch(
            self.command,
            unquote(split.path),
            query,
            self.headers.get("Content-Type", ""),
            self.headers.get("Authorization"),
            raw,
        )
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", "Audit-Id": str(uuid.uuid4())}
        # Protobuf or CBOR in Accept still gets JSON: the Python client only parses JSON.
        for k, v in (headers | reply.headers | {"Content-Length": str(len(data))}).items():
            self.send_header(k, v)
        if reply.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class KubeStandIn:
    """A Kubernetes API server on 127.0.0.1 backed by an in-memory object store."""

    def __init__(
        self,
        *,
        token: str | None = None,
        user: str = DEFAULT_USER,
        resources: Iterable[Resource] = DEFAULT_RESOURCES,
    ) -> None:
        self.token, self.user = token, user
        self._lock = threading.RLock()
        self._resources: dict[tuple[str, str], Resource] = {}
        self._kinds: dict[tuple[str, str], Resource] = {}
        for res in resources:
            self.register(res)
        self._store: dict[tuple[str, str, str, str], JSON] = {}
        self._rv = 1000  # etcd-like global revision; every write bumps it
        self._compacted_rv = 0
        self._faults: list[_Fault] = []
        self._forbidden: list[tuple[str, frozenset[str] | None]] = []
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._clients: list[kubernetes.client.ApiClient] = []
        self._server: _Server | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> KubeStandIn:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.kube = self
        # A short poll interval keeps stop() (and so every test) fast.
        threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True, name="kube-standin"
        ).start()
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()  # type: ignore[no-untyped-call]
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Idle keep-alive connections would otherwise keep serving after shutdown.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> KubeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "KubeStandIn is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def configuration(self) -> kubernetes.client.Configuration:
        config = kubernetes.client.Configuration(host=self.url)
        if self.token:
            config.api_key = {"authorization": self.token}
            config.api_key_prefix = {"authorization": "Bearer"}
        return config

    def api_client(self) -> kubernetes.client.ApiClient:
        client = kubernetes.client.ApiClient(self.configuration())
        self._clients.append(client)
        return client

    # -- seeding and inspection ------------------------------------------------
    def register(self, res: Resource) -> None:
        self._resources[(res.prefix, res.plural)] = res
        self._kinds.setdefault((res.api_version, res.kind), res)

    def add(self, obj: JSON) -> JSON:
        """Store ``obj`` as-is (status included), replacing any object with that name."""
        res = self._kinds.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if res is None:
            raise ValueError(
                f"no resource registered for {obj.get('apiVersion')}/{obj.get('kind')}"
            )
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            meta.setdefault("namespace", "default")
        with self._lock:
            return copy.deepcopy(self._put(res, self._fill_new(res, obj)))

    def load_yaml(self, text: str) -> list[JSON]:
        objs: list[JSON] = []
        for doc in yaml.safe_load_all(text):
            if doc:
                objs.extend(doc["items"] if doc.get("kind") == "List" else [doc])
        return [self.add(o) for o in objs]

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> JSON | None:
        res = self._kinds[(api_version, kind)]
        ns = namespace or ("default" if res.namespaced else "")
        with self._lock:
            obj = self._store.get((res.prefix, res.plural, ns, name))
            return copy.deepcopy(obj)

    def remove(self, api_version: str, kind: str, name: str, namespace: str = "") -> bool:
        res = self._kinds[(api_version, kind)]
        ns = namespace or ("default" if res.namespaced else "")
        with self._lock:
            return self._store.pop((res.prefix, res.plural, ns, name), None) is not None

    # -- fault injection ---------------------------------------------------------
    def fail_next(
        self,
        method: str | None = None,
        path_regex: str | None = None,
        status: int = 500,
        times: int = 1,
        reason: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with an error Status."""
        with self._lock:
            self._faults.append(
                _Fault(
                    method and method.upper(),
                    path_regex,
                    status,
                    times,
                    reason,
                    message,
                    headers or {},
                )
            )

    def forbid(self, path_regex: str, verbs: Iterable[str] | None = None) -> None:
        """RBAC-style denial of matching paths (optionally only for some verbs: list, get…)."""
        with self._lock:
            self._forbidden.append((path_regex, frozenset(verbs) if verbs else None))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._forbidden.clear()

    def expire_continue_tokens(self) -> None:
        """Simulate etcd compaction: continue tokens issued so far now get 410 Expired."""
        with self._lock:
            self._compacted_rv = self._rv
            self._rv += 1

    # -- request accounting ------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def request_count(self, path_regex: str | None = None, method: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (path_regex is None or re.search(path_regex, r.path))
            and (method is None or r.method == method.upper())
        )

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- HTTP dispatch -----------------------------------------------------------
    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        content_type: str,
        authorization: str | None,
        raw: bytes,
    ) -> _Reply:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, dict(query)))
            fault = self._take_fault(method, path)
        try:
            if fault is not None:
                message = fault.message or (
                    EXPIRED_MESSAGE
                    if fault.status == 410
                    else f"injected {fault.status} for {method} {path}"
                )
                err = StatusError(fault.status, message, fault.reason)
                return _Reply(fault.status, err.body(), fault.headers)
            if self.token and authorization != f"Bearer {self.token}":
                raise StatusError(401, "Unauthorized")
            target = self._route(path)
            self._check_forbidden(method, path, query, target)
            if target is None:
                return self._discovery(path)
            if method == "GET" and target.name is None and _is_watch(query):
                return _Reply(200, b"", {}, close=True)  # watches are not simulated
            body = _decode_body(method, raw)
            with self._lock:
                status, result = self._serve(method, target, query, content_type, body)
            return _Reply(status, result, {})
        except StatusError as err:
            return _Reply(err.code, err.body(), {})
        except Exception as exc:  # a stand-in bug should surface in the test, not hang it
            return _Reply(500, StatusError(500, f"stand-in failure: {exc!r}").body(), {})

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in (None, method) and (
                fault.path_regex is None or re.search(fault.path_regex, path)
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _check_forbidden(
        self, method: str, path: str, query: dict[str, str], target: _Target | None
    ) -> None:
        if target is None:
            verb = method.lower()
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
                method, "get"
            )
            if target.name is None:
                verb = {
                    "get": "watch" if _is_watch(query) else "list",
                    "delete": "deletecollection",
                }.get(verb, verb)
        with self._lock:
            denied = any(
                re.search(rx, path) and (verbs is None or verb in verbs)
                for rx, verbs in self._forbidden
            )
        if not denied:
            return
        if target is None:
            raise StatusError(
                403, f'forbidden: User "{self.user}" cannot {verb} path "{path}"', details={}
            )
        res = target.res
        plural = f"{res.plural}/{target.sub}" if target.sub else res.plural
        subject = f'{res.qualified} "{target.name}"' if target.name else res.qualified
        scope = (
            f'in the namespace "{target.namespace}"' if target.namespace else "at the cluster scope"
        )
        raise StatusError(
            403,
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource "{plural}" '
            f'in API group "{res.group}" {scope}',
            details=_details(res, target.name),
        )

    def _route(self, path: str) -> _Target | None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            prefix, rest = "/api/v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            prefix, rest = "/" + "/".join(parts[:3]), parts[3:]
        else:
            return None
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (prefix, rest[2]) in self._resources:
            ns, rest = rest[1], rest[2:]
        res = self._resources.get((prefix, rest[0])) if rest else None
        if res is None or len(rest) > 3 or (res.namespaced and ns is None and len(rest) > 1):
            return None
        return _Target(
            res, ns, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
        )

    def _discovery(self, path: str) -> _Reply:
        path = path.rstrip("/")
        resources = list(self._resources.values())
        gvs = sorted({(r.group, r.version) for r in resources if r.group})
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        versions: dict[str, list[JSON]] = {}
        for g, v in gvs:
            versions.setdefault(g, []).append({"groupVersion": f"{g}/{v}", "version": v})
        groups = {
            g: {"name": g, "versions": vs, "preferredVersion": vs[0]} for g, vs in versions.items()
        }
        body: JSON
        if path == "/version":
            body = dict(_VERSION)
        elif path == "/api":
            body = {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.split("//")[1]}
                ],
            }
        elif path == "/apis":
            body = {"kind": "APIGroupList", "apiVersion": "v1", "groups": list(groups.values())}
        elif path.startswith("/apis/") and path.count("/") == 2 and path[6:] in groups:
            body = {"kind": "APIGroup", "apiVersion": "v1", **groups[path[6:]]}
        elif matching := [r for r in resources if r.prefix == path]:
            listed: list[JSON] = []
            for r in matching:
                entry = {
                    "name": r.plural,
                    "singularName": r.kind.lower(),
                    "kind": r.kind,
                    "namespaced": r.namespaced,
                    "verbs": verbs,
                }
                listed.append(entry)
                listed += [
                    entry
                    | {
                        "name": f"{r.plural}/{sub}",
                        "singularName": "",
                        "verbs": ["get", "patch", "update"],
                    }
                    for sub in r.subresources
                ]
            body = {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": matching[0].api_version,
                "resources": listed,
            }
        else:
            raise StatusError(404, _NOT_FOUND_PATH, details={})
        return _Reply(200, body, {})

    # -- object store ------------------------------------------------------------
    def _serve(
        self, method: str, t: _Target, query: dict[str, str], content_type: str, body: Any
    ) -> tuple[int, Any]:
        res, ns = t.res, t.namespace or ""
        not_allowed = StatusError(
            405, "the server does not allow this method on the requested resource", details={}
        )
        if t.sub is not None and t.sub not in res.subresources:
            raise StatusError(404, _NOT_FOUND_PATH, details={})
        if t.name is None:
            if method == "GET":
                return 200, self._list(t, query)
            if method == "POST" and (ns or not res.namespaced):
                return 201, self._create(res, ns, body)
            if method == "DELETE":
                gone = self._list(t, query)
                for item in gone["items"]:
                    del self._store[_key(res, item)]
                return 200, gone
            raise not_allowed
        stored = self._store.get((res.prefix, res.plural, ns, t.name))
        if stored is None:
            raise StatusError(
                404, f'{res.qualified} "{t.name}" not found', details=_details(res, t.name)
            )
        if method == "GET":
            return 200, copy.deepcopy(stored)
        if method == "DELETE":
            return 200, self._delete(res, stored, body or {})
        if method == "PUT":
            if (got := body.get("metadata", {}).get("name")) != t.name:
                raise StatusError(
                    400,
                    f"the name of the object ({got}) does not match the name on the URL ({t.name})",
                )
            return 200, self._update(res, stored, copy.deepcopy(body), t.sub)
        if method != "PATCH":
            raise not_allowed
        # Strategic merge is served as a plain merge patch: lists are replaced, not merged by key.
        if "merge-patch" in content_type:
            return 200, self._update(res, stored, merge_patch(stored, body), t.sub)
        if "json-patch" in content_type:
            return 200, self._update(res, stored, json_patch(stored, body), t.sub)
        raise StatusError(
            415,
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            f"application/strategic-merge-patch+json; got {content_type}",
        )

    def _delete(self, res: Resource, stored: JSON, options: JSON) -> JSON:
        meta = stored["metadata"]
        for field, want in (options.get("preconditions") or {}).items():
            if want is not None and want != meta.get(field):
                raise StatusError(
                    409,
                    f"Precondition failed: {field} in precondition: {want}, "
                    f"{field} in object meta: {meta.get(field)}",
                    "Conflict",
                    _details(res, meta["name"]),
                )
        del self._store[_key(res, stored)]
        if res.plural == "pods":  # the pod registry answers with the deleted object
            return copy.deepcopy(stored)
        details = _details(res, meta["name"]) | {"uid": meta.get("uid")}
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def _list(self, t: _Target, query: dict[str, str]) -> JSON:
        res = t.res
        labels = _parse_label_selector(query.get("labelSelector", ""))
        fields = _parse_field_selector(res, query.get("fieldSelector", ""))
        limit = int(query.get("limit") or 0)
        rv, start = self._rv, ""
        if token := query.get("continue"):
            rv, start = self._decode_continue(token)
        items = sorted(
            (
                o
                for (prefix, plural, ns, _), o in self._store.items()
                if (prefix, plural) == (res.prefix, res.plural)
                and t.namespace in (None, ns)
                and _etcd_key(o) >= start
                and _labels_match(o["metadata"].get("labels") or {}, labels)
                and all((_field_value(o, f) == v) != neg for f, neg, v in fields)
            ),
            key=_etcd_key,
        )
        page = items[:limit] if limit else items
        meta: JSON = {"resourceVersion": str(rv)}
        if len(page) < len(items):
            meta["continue"] = self._encode_continue(rv, _etcd_key(page[-1]) + "\x00")
            if not labels and not fields:
                meta["remainingItemCount"] = len(items) - len(page)
        # Items in a real list response carry no kind/apiVersion of their own.
        return {
            "kind": f"{res.kind}List",
            "apiVersion": res.api_version,
            "metadata": meta,
            "items": [
                {k: copy.deepcopy(v) for k, v in o.items() if k not in ("kind", "apiVersion")}
                for o in page
            ],
        }

    def _encode_continue(self, rv: int, start: str) -> str:
        # Same shape as the real token: base64url (unpadded) JSON of version, revision, key.
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_continue(self, token: str) -> tuple[int, str]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv, start = int(data["rv"]), str(data["start"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StatusError(400, f"continue key is not valid: {exc}") from exc
        if rv <= self._compacted_rv:
            raise StatusError(
                410,
                EXPIRED_MESSAGE,
                "Expired",
                metadata={"continue": self._encode_continue(self._rv, start)},
            )
        return rv, start

    def _create(self, res: Resource, ns: str, body: JSON) -> JSON:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace", ns) != ns:
                raise StatusError(
                    400,
                    "the namespace of the provided object does not match "
                    "the namespace sent on the request",
                )
            meta["namespace"] = ns
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise StatusError(
                    422,
                    f'{res.kind} "" is invalid: metadata.name: Required '
                    "value: name or generateName is required",
                )
            suffix = uuid.uuid4().hex[:5]
            meta["name"] = meta["generateName"] + suffix
        if _key(res, obj) in self._store:
            raise StatusError(
                409,
                f'{res.qualified} "{meta["name"]}" already exists',
                "AlreadyExists",
                _details(res, meta["name"]),
            )
        meta.pop("uid", None)
        meta.pop("resourceVersion", None)
        meta.pop("creationTimestamp", None)
        if "status" in res.subresources:
            # Status is only writable through the subresource; a new pod always starts Pending.
            obj["status"] = {"phase": "Pending"} if res.kind == "Pod" else {}
        return copy.deepcopy(self._put(res, self._fill_new(res, obj)))

    def _update(self, res: Resource, stored: JSON, new: JSON, sub: str | None) -> JSON:
        name = stored["metadata"]["name"]
        want_rv = new.get("metadata", {}).get("resourceVersion")
        if want_rv and want_rv != stored["metadata"]["resourceVersion"]:
            raise StatusError(
                409,
                f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has '
                "been modified; please apply your changes to the latest version and try "
                "again",
                "Conflict",
                _details(res, name),
            )
        if sub == "status":
            new = copy.deepcopy(stored) | {"status": new.get("status", {})}
        elif "status" in res.subresources:
            new.pop("status", None)
            if "status" in stored:
                new["status"] = copy.deepcopy(stored["status"])
        meta = new.setdefault("metadata", {})
        for field in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if field in stored["metadata"]:
                meta[field] = stored["metadata"][field]
        if "spec" in new and new.get("spec") != stored.get("spec"):
            meta["generation"] = meta.get("generation", 0) + 1
        new["kind"], new["apiVersion"] = res.kind, res.api_version
        return copy.deepcopy(self._put(res, new))

    def _fill_new(self, res: Resource, obj: JSON) -> JSON:
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", rfc3339())
        if "spec" in obj:
            meta.setdefault("generation", 1)
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version
        return obj

    def _put(self, res: Resource, obj: JSON) -> JSON:
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        self._store[_key(res, obj)] = obj
        return obj


# -- builders: objects shaped exactly like API responses -------------------------------
Owner = tuple[str, str, str] | JSON  # (kind, name, uid) or the owning object itself
_OWNER_API = {
    "ReplicaSet": "apps/v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Node": "v1",
}
Timestamp = datetime | str | None


def rfc3339(t: Timestamp = None) -> str:
    if isinstance(t, str):
        return t
    return (t or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_uid(kind: str, namespace: str, name: str) -> str:
    """Deterministic uid so tests can wire ownerReferences without bookkeeping."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"k8s-standin/{kind}/{namespace}/{name}"))


def _hex(*parts: object, n: int = 64) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:n]


def owner_reference(owner: Owner) -> JSON:
    if isinstance(owner, dict):
        kind, name, uid = owner["kind"], owner["metadata"]["name"], owner["metadata"]["uid"]
    else:
        kind, name, uid = owner
    return {
        "apiVersion": _OWNER_API.get(kind, "v1"),
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_reference(obj: JSON, field_path: str | None = None) -> JSON:
    meta = obj["metadata"]
    ref = {
        "kind": obj["kind"],
        "apiVersion": obj["apiVersion"],
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref | ({"fieldPath": field_path} if field_path else {})


def _meta(
    kind: str,
    namespace: str,
    name: str,
    labels: dict[str, str] | None,
    owner: Owner | None,
    created: Timestamp,
    uid: str | None = None,
) -> JSON:
    meta: JSON = {
        "name": name,
        "uid": uid or stable_uid(kind, namespace, name),
        "creationTimestamp": rfc3339(created),
    }
    if labels:
        meta["labels"] = dict(labels)
    if namespace:
        meta["namespace"] = namespace
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    return meta


def container(
    name: str = "app",
    image: str | None = None,
    memory_limit: str | None = "256Mi",
    memory_request: str | None = None,
    cpu_request: str | None = "100m",
) -> JSON:
    limits = {"memory": memory_limit} if memory_limit else {}
    # The API server defaults a missing request to the limit.
    requests = {
        k: v for k, v in (("cpu", cpu_request), ("memory", memory_request or memory_limit)) if v
    }
    return {
        "name": name,
        "image": image or f"registry.example.com/{name}:1.0.0",
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": limits, "requests": requests},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def running_state(started_at: Timestamp = None) -> JSON:
    return {"running": {"startedAt": rfc3339(started_at)}}


def waiting_state(reason: str = "CrashLoopBackOff", message: str | None = None) -> JSON:
    return {"waiting": {"reason": reason} | ({"message": message} if message else {})}


def terminated_state(
    reason: str = "OOMKilled",
    exit_code: int = 137,
    started_at: Timestamp = None,
    finished_at: Timestamp = None,
    container_id: str | None = None,
    message: str | None = None,
) -> JSON:
    term: JSON = {
        "containerID": container_id or f"containerd://{_hex(reason, started_at)}",
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": rfc3339(started_at),
        "finishedAt": rfc3339(finished_at),
    }
    return {"terminated": term | ({"message": message} if message else {})}


def container_status(
    name: str = "app",
    *,
    image: str | None = None,
    state: JSON | None = None,
    last_state: JSON | None = None,
    restart_count: int = 0,
    ready: bool | None = None,
) -> JSON:
    state = state or running_state()
    image = image or f"registry.example.com/{name}:1.0.0"
    running = "running" in state
    status: JSON = {
        "name": name,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{_hex(image)}",
        "ready": running if ready is None else ready,
        "restartCount": restart_count,
        "started": running,
        "state": state,
        "lastState": last_state or {},
    }
    if "waiting" in state and not last_state:  # never ran: no container, no resolved image
        return status | {"imageID": ""}
    cid = state.get("terminated", {}).get("containerID")
    return status | {"containerID": cid or f"containerd://{_hex(name, restart_count)}"}


def _default_state(phase: str, started: Timestamp) -> JSON:
    if phase == "Succeeded":
        return terminated_state("Completed", 0, started, started)
    if phase == "Failed":
        return terminated_state("Error", 1, started, started)
    return running_state(started) if phase == "Running" else waiting_state("ContainerCreating")


def _qos(containers: Sequence[JSON]) -> str:
    res = [c.get("resources", {}) for c in containers]
    if not any(r.get("limits") or r.get("requests") for r in res):
        return "BestEffort"
    if all(
        set(r.get("limits", {})) >= {"cpu", "memory"} and r.get("requests", {}) == r["limits"]
        for r in res
    ):
        return "Guaranteed"
    return "Burstable"


def make_pod(
    namespace: str,
    name: str,
    containers: Sequence[JSON | str] | None = None,
    *,
    owner: Owner | None = None,
    node: str | None = "node-1",
    restart_policy: str = "Always",
    phase: str = "Running",
    container_statuses: Sequence[JSON] | None = None,
    init_containers: Sequence[JSON | str] | None = None,
    init_container_statuses: Sequence[JSON] | None = None,
    labels: dict[str, str] | None = None,
    created: Timestamp = None,
    uid: str | None = None,
) -> JSON:
    """A pod as the API returns it; statuses default to healthy ones matching ``phase``,
    labels to those of the owner's pod template when ``owner`` is an object."""
    if labels is None and isinstance(owner, dict):
        labels = owner.get("spec", {}).get("template", {}).get("metadata", {}).get("labels")
    specs = [container(c) if isinstance(c, str) else c for c in containers or ["app"]]
    inits = [container(c) if isinstance(c, str) else c for c in init_containers or []]
    statuses = (
        container_statuses
        if container_statuses is not None
        else [
            container_status(c["name"], image=c["image"], state=_default_state(phase, created))
            for c in specs
        ]
    )
    init_statuses = (
        init_container_statuses
        if init_container_statuses is not None
        else [
            container_status(
                c["name"],
                image=c["image"],
                ready=True,
                state=terminated_state("Completed", 0, created, created),
            )
            for c in inits
        ]
    )
    ready = str(phase == "Running" and all(s["ready"] for s in statuses))
    spec: JSON = {
        "containers": specs,
        "restartPolicy": restart_policy,
        "serviceAccountName": "default",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
    }
    if inits:
        spec["initContainers"] = inits
    status: JSON = {
        "phase": phase,
        "qosClass": _qos(specs + inits),
        "conditions": [
            {"type": t, "status": s, "lastTransitionTime": rfc3339(created)}
            for t, s in (
                ("PodScheduled", str(bool(node))),
                ("Initialized", "True"),
                ("ContainersReady", ready),
                ("Ready", ready),
            )
        ],
        "startTime": rfc3339(created),
        "containerStatuses": list(statuses),
    }
    if node:
        spec["nodeName"] = node
        status |= {"hostIP": "10.0.0.11", "podIP": f"10.244.1.{int(_hex(name, n=2), 16) % 250}"}
    if init_statuses:
        status["initContainerStatuses"] = list(init_statuses)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta("Pod", namespace, name, labels, owner, created, uid),
        "spec": spec,
        "status": status,
    }


class WorkloadOptions(TypedDict, total=False):
    containers: Sequence[JSON | str]  # container specs, or just names
    labels: dict[str, str]  # also the selector and pod-template labels; default app=<name>
    owner: Owner
    created: Timestamp


def _workload(
    kind: str,
    namespace: str,
    name: str,
    spec: JSON,
    status: JSON,
    opts: WorkloadOptions,
    restart_policy: str = "Always",
) -> JSON:
    labels = opts.get("labels") or {"app": name}
    containers = [
        container(c) if isinstance(c, str) else c for c in opts.get("containers", ["app"])
    ]
    template = {
        "metadata": {"labels": dict(labels)},
        "spec": {"containers": containers, "restartPolicy": restart_policy},
    }
    meta = _meta(kind, namespace, name, labels, opts.get("owner"), opts.get("created"))
    return {
        "apiVersion": _OWNER_API[kind],
        "kind": kind,
        "metadata": meta | {"generation": 1},
        "spec": {"selector": {"matchLabels": dict(labels)}, "template": template} | spec,
        "status": status | {"observedGeneration": 1},
    }


def _replica_status(n: int, *fields: str) -> JSON:
    return dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", *fields), n)


def make_replicaset(
    namespace: str, name: str, *, replicas: int = 1, **opts: Unpack[WorkloadOptions]
) -> JSON:
    status = _replica_status(replicas, "fullyLabeledReplicas")
    return _workload("ReplicaSet", namespace, name, {"replicas": replicas}, status, opts)


def make_deployment(
    namespace: str, name: str, *, replicas: int = 1, **opts: Unpack[WorkloadOptions]
) -> JSON:
    status = _replica_status(replicas, "updatedReplicas")
    return _workload("Deployment", namespace, name, {"replicas": replicas}, status, opts)


def make_statefulset(
    namespace: str, name: str, *, replicas: int = 1, **opts: Unpack[WorkloadOptions]
) -> JSON:
    spec = {"replicas": replicas, "serviceName": name}
    status = _replica_status(replicas, "currentReplicas", "updatedReplicas")
    return _workload("StatefulSet", namespace, name, spec, status, opts)


def make_daemonset(
    namespace: str, name: str, *, nodes: int = 1, **opts: Unpack[WorkloadOptions]
) -> JSON:
    status = dict.fromkeys(
        (
            "currentNumberScheduled",
            "desiredNumberScheduled",
            "numberReady",
            "numberAvailable",
            "updatedNumberScheduled",
        ),
        nodes,
    )
    return _workload("DaemonSet", namespace, name, {}, status | {"numberMisscheduled": 0}, opts)


def make_job(
    namespace: str,
    name: str,
    *,
    backoff_limit: int = 6,
    active: int = 0,
    succeeded: int = 0,
    failed: int = 0,
    **opts: Unpack[WorkloadOptions],
) -> JSON:
    opts.setdefault("labels", {"job-name": name})
    spec = {"backoffLimit": backoff_limit, "completions": 1, "parallelism": 1}
    counts = {"active": active, "succeeded": succeeded, "failed": failed}
    status = {"startTime": rfc3339(opts.get("created"))} | {k: v for k, v in counts.items() if v}
    return _workload("Job", namespace, name, spec, status, opts, restart_policy="Never")


def make_cronjob(
    namespace: str, name: str, *, schedule: str = "*/5 * * * *", **opts: Unpack[WorkloadOptions]
) -> JSON:
    job = make_job(namespace, name, **opts)
    del job["spec"]["selector"]  # the Job controller picks the selector for each run
    spec = {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False}
    spec["jobTemplate"] = {"metadata": {}, "spec": job["spec"]}
    meta = _meta(
        "CronJob",
        namespace,
        name,
        job["metadata"].get("labels"),
        opts.get("owner"),
        opts.get("created"),
    )
    return job | {"kind": "CronJob", "metadata": meta, "spec": spec, "status": {}}


def make_event(
    namespace: str,
    involved: JSON,
    reason: str,
    message: str,
    *,
    type: str = "Warning",
    first_timestamp: Timestamp = None,
    last_timestamp: Timestamp = None,
    count: int = 1,
    component: str = "kubelet",
    host: str | None = None,
    name: str | None = None,
) -> JSON:
    """A core/v1 Event; ``involved`` is an object (its reference is taken) or a reference."""
    ref = object_reference(involved) if "metadata" in involved else dict(involved)
    first = rfc3339(first_timestamp)
    name = name or f"{ref['name']}.{_hex(reason, message, first, n=16)}"
    source = {"component": component} | ({"host": host} if host else {})
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": _meta("Event", namespace, name, None, None, first),
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": type,
        "source": source,
        "firstTimestamp": first,
        "lastTimestamp": rfc3339(last_timestamp or first_timestamp),
        "count": count,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }


def make_namespace(name: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta("Namespace", "", name, {"kubernetes.io/metadata.name": name}, None, None),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def make_configmap(namespace: str, name: str, data: dict[str, str] | None = None) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("ConfigMap", namespace, name, None, None, None),
        "data": dict(data or {}),
    }


def kubeconfig(path: Path, url: str) -> Path:
    """A kubeconfig file pointing the real client at a stand-in's URL (token auth)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "standin",
                "clusters": [{"name": "standin", "cluster": {"server": url}}],
                "users": [{"name": "podmem", "user": {"token": "standin"}}],
                "contexts": [
                    {"name": "standin", "context": {"cluster": "standin", "user": "podmem"}}
                ],
            }
        )
    )
    return path
