"""deploy/: the image, the manifests and the demo, checked by construction.

No Docker engine and no cluster here, so nothing is built or applied. Instead: every manifest
must match the Kubernetes API's own schema (the kubernetes client's models), agree with the
bot's settings (env names, port, Lease and ConfigMap names) and say what the issue asks
(least privilege, non-root, probes, resources); kustomize itself renders the base, the HA
overlay and the demo when kubectl or kustomize is on the PATH; and the demo program runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from bot import __version__
from bot.settings import Settings, env_name, load_settings
from tests import kustomize

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
BASE = KUBE / "base"
HA = KUBE / "overlays" / "ha"
DEMO = DEPLOY / "demo"

SETTING_ENV_NAMES = {env_name(field) for field in Settings.model_fields}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind"}
APP_UID = 10001


# --- loading -----------------------------------------------------------------------------


def _load_all() -> dict[Path, list[Any]]:
    # A Helm chart's templates are Go templates, not YAML: tests/test_helm_chart.py renders them.
    files = sorted(
        p
        for p in DEPLOY.rglob("*")
        if p.suffix in {".yaml", ".yml"} and "templates" not in p.relative_to(DEPLOY).parts
    )
    return {
        path: [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
        for path in files
    }


DOCUMENTS = _load_all()


def _objects(under: Path = DEPLOY) -> list[tuple[Path, dict[str, Any]]]:
    """Kubernetes objects (not kustomizations) in the YAML files under a directory."""
    return [
        (path, doc)
        for path, docs in DOCUMENTS.items()
        if path.is_relative_to(under)
        for doc in docs
        # Kubernetes objects only: not kustomizations, not deploy/slack's app manifest.
        if isinstance(doc, dict)
        and {"apiVersion", "kind"} <= doc.keys()
        and doc["kind"] != "Kustomization"
    ]


def _one(path: Path, kind: str) -> dict[str, Any]:
    found = [doc for doc in DOCUMENTS[path] if doc.get("kind") == kind]
    assert len(found) == 1, f"{path}: expected one {kind}, found {len(found)}"
    return found[0]


def _env_file(path: Path) -> dict[str, str]:
    """A kustomize env file: KEY=VALUE lines, # comments, blank lines."""
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path}: not KEY=VALUE: {line!r}"
            pairs[key.strip()] = value
    return pairs


def _containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def _mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)", quantity)
    assert match, f"unexpected quantity {quantity!r}"
    return float(match[1]) * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}[match[2]]


BASE_DEPLOYMENT = _one(BASE / "deployment.yaml", "Deployment")
POD = BASE_DEPLOYMENT["spec"]["template"]["spec"]
(BOT,) = POD["containers"]
POD_LABELS = BASE_DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
BASE_CONFIG = _env_file(BASE / "config.env")
HA_CONFIG = _env_file(HA / "config.env")


def test_every_yaml_under_deploy_parses() -> None:
    assert len(DOCUMENTS) >= 15
    assert all(DOCUMENTS.values()), "an empty YAML file"


# --- kustomize wiring ----------------------------------------------------------------------


KUSTOMIZATIONS = sorted(path for path in DOCUMENTS if path.name == "kustomization.yaml")


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomization_references_exist(path: Path) -> None:
    (kustomization,) = DOCUMENTS[path]
    here = path.parent
    for entry in kustomization.get("resources", []):
        target = here / entry
        assert target.is_file() or (target / "kustomization.yaml").is_file(), entry
    for patch in kustomization.get("patches", []):
        if "path" in patch:
            assert (here / patch["path"]).is_file(), patch
    for generator in kustomization.get("configMapGenerator", []):
        for name in [*generator.get("envs", []), *generator.get("files", [])]:
            assert (here / name.split("=")[-1]).is_file(), name


def test_optional_and_example_manifests_are_not_applied() -> None:
    listed = {
        (path.parent / entry).resolve()
        for path in KUSTOMIZATIONS
        for entry in DOCUMENTS[path][0].get("resources", [])
    }
    assert (KUBE / "secret.example.yaml").resolve() not in listed
    assert (KUBE / "servicemonitor.yaml").resolve() not in listed


# --- schema: field names and types as the API defines them ------------------------------


def _schema_errors(value: Any, type_name: str, where: str) -> list[str]:
    # The client spells containers "list[X]"/"dict(str, X)" or, in newer releases,
    # "List[X]"/"Dict[str, X]".
    if listed := re.fullmatch(r"[lL]ist\[(.+)\]", type_name):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [
            error
            for index, item in enumerate(value)
            for error in _schema_errors(item, listed[1], f"{where}[{index}]")
        ]
    if mapped := re.fullmatch(r"dict\(str, (.+)\)|Dict\[str, (.+)\]", type_name):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping"]
        inner = mapped[1] or mapped[2]
        return [
            error
            for key, item in value.items()
            for error in _schema_errors(item, inner, f"{where}.{key}")
        ]
    primitive = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in primitive:
        ok = isinstance(value, primitive[type_name]) and not (
            type_name != "bool" and isinstance(value, bool)
        )
        return [] if ok else [f"{where}: expected {type_name}, got {value!r}"]
    if type_name == "object":  # IntOrString and friends
        return []
    model = getattr(k8s, type_name)
    if not isinstance(value, dict):
        return [f"{where}: expected a {type_name} mapping"]
    by_json = {json: attr for attr, json in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        if key == "$patch":  # a strategic-merge directive in a kustomize patch
            continue
        if key not in by_json:
            errors.append(f"{where}: {type_name} has no field {key!r}")
            continue
        errors += _schema_errors(item, model.openapi_types[by_json[key]], f"{where}.{key}")
    return errors


SCHEMA_OBJECTS = [
    (path, doc) for path, doc in _objects() if doc["apiVersion"] != "monitoring.coreos.com/v1"
]


@pytest.mark.parametrize(
    ("path", "doc"),
    SCHEMA_OBJECTS,
    ids=[f"{p.relative_to(DEPLOY)}:{d['kind']}" for p, d in SCHEMA_OBJECTS],
)
def test_manifest_matches_the_api_schema(path: Path, doc: dict[str, Any]) -> None:
    model = "V1" + doc["kind"]
    assert doc["apiVersion"].split("/")[-1] == "v1", "only v1 APIs are used"
    assert _schema_errors(doc, model, doc["kind"]) == []


def test_servicemonitor_selects_the_service_port() -> None:
    monitor = _one(KUBE / "servicemonitor.yaml", "ServiceMonitor")
    service = _one(BASE / "service.yaml", "Service")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


# --- the Deployment ---------------------------------------------------------------------


def test_deployment_runs_locked_down() -> None:
    pod = POD["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == APP_UID
    assert pod["fsGroup"] == APP_UID
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in _containers(POD):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert "add" not in security["capabilities"]
        assert security.get("privileged", False) is False
        assert security.get("runAsUser", APP_UID) != 0
        assert (
            security.get("seccompProfile", {"type": "RuntimeDefault"})["type"] == "RuntimeDefault"
        )
    assert POD["automountServiceAccountToken"] is True
    assert POD["enableServiceLinks"] is False, "a Service named podmem injects PODMEM_* vars"
    assert not POD.get("hostNetwork") and not POD.get("hostPID")


def test_single_replica_recreates_because_sqlite_sits_on_a_rwo_volume() -> None:
    spec = BASE_DEPLOYMENT["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert BASE_CONFIG["PODMEM_STATE_BACKEND"] == "sqlite"
    pvc = _one(BASE / "pvc.yaml", "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    volumes = {volume["name"]: volume for volume in POD["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in BOT["volumeMounts"]}
    state_dir = str(Path(BASE_CONFIG["PODMEM_STATE_PATH"]).parent)
    claim = volumes[mounts[state_dir]]["persistentVolumeClaim"]["claimName"]
    assert claim == pvc["metadata"]["name"]


def test_writable_scratch_for_matplotlib_on_the_read_only_root() -> None:
    volumes = {volume["name"]: volume for volume in POD["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in BOT["volumeMounts"]}
    env = _dockerfile_env()
    assert env["MPLCONFIGDIR"].startswith("/tmp/")
    tmp = volumes[mounts["/tmp"]]
    assert "emptyDir" in tmp
    assert tmp["emptyDir"].get("medium") != "Memory", "tmpfs pages count against the limit"


def test_probes_and_service_use_the_one_http_port() -> None:
    port = int(BASE_CONFIG.get("PODMEM_HTTP_PORT", Settings.model_fields["http_port"].default))
    assert port == Settings.model_fields["http_port"].default == 3000
    (container_port,) = BOT["ports"]
    assert container_port == {"name": "http", "containerPort": port, "protocol": "TCP"}
    assert BOT["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert BOT["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert BOT["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = _one(BASE / "service.yaml", "Service")
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    assert service_port["port"] == port
    assert service["spec"]["selector"].items() <= POD_LABELS.items()
    assert BASE_DEPLOYMENT["spec"]["selector"]["matchLabels"].items() <= POD_LABELS.items()


def test_resources_requests_and_a_memory_limit_without_cpu_limit() -> None:
    resources = BOT["resources"]
    requests, limits = resources["requests"], resources["limits"]
    assert requests["cpu"] == "50m"
    assert _mebibytes(requests["memory"]) == 256
    assert _mebibytes(limits["memory"]) == 384
    # The measured peak of `podmem run` is 120-150 MiB, and its chart worker ~90 MiB: the
    # request covers both.
    assert _mebibytes(requests["memory"]) > 150 + 90
    assert "cpu" not in limits, "CPU throttling would stall Slack's 3 s acknowledgement"


def test_pod_identity_comes_from_the_downward_api() -> None:
    env = {item["name"]: item for item in BOT["env"]}
    assert env["PODMEM_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["PODMEM_POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    sources = BOT["envFrom"]
    assert {"configMapRef": {"name": "podmem-config"}} in sources
    secret = _one(KUBE / "secret.example.yaml", "Secret")
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in sources


# --- RBAC --------------------------------------------------------------------------------


RBAC_ROLES = [(path, doc) for path, doc in _objects() if doc["kind"] in {"ClusterRole", "Role"}]


def test_rbac_grants_no_secrets_no_wildcards_no_cluster_wide_writes() -> None:
    assert {doc["kind"] for _, doc in RBAC_ROLES} == {"ClusterRole", "Role"}
    for path, role in RBAC_ROLES:
        for rule in role["rules"]:
            where = f"{path.name}: {role['kind']} rule {rule}"
            assert "secrets" not in rule["resources"], where
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(key, []), where
            assert "nonResourceURLs" not in rule, where
            if role["kind"] == "ClusterRole":
                assert not set(rule["verbs"]) & WRITE_VERBS, where
                assert set(rule["verbs"]) <= {"get", "list", "watch"}, where


def test_cluster_role_covers_what_the_bot_reads() -> None:
    (cluster_role,) = [doc for _, doc in RBAC_ROLES if doc["kind"] == "ClusterRole"]
    granted = {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    # bot/sources/kubernetes.py: list failed pods, read pods, resolve ReplicaSet and Job owners.
    needed = {
        ("", "pods", "list"),
        ("", "pods", "get"),
        ("apps", "replicasets", "get"),
        ("batch", "jobs", "get"),
    }
    assert granted == needed  # and nothing more: each verb is one the code makes


def test_namespace_role_is_pinned_to_the_lease_and_the_state_configmap() -> None:
    (role,) = [doc for _, doc in RBAC_ROLES if doc["kind"] == "Role"]
    names = {
        "leases": Settings.model_fields["lease_name"].default,
        "configmaps": Settings.model_fields["state_configmap"].default,
    }
    for resource, name in names.items():
        rules = [rule for rule in role["rules"] if resource in rule["resources"]]
        verbs = {verb for rule in rules for verb in rule["verbs"]}
        assert verbs == {"get", "create", "update"}, resource
        for rule in rules:
            assert rule["resources"] == [resource]
            if "create" in rule["verbs"]:
                # A create carries no name to match: with resourceNames it would never apply.
                assert "resourceNames" not in rule and rule["verbs"] == ["create"]
            else:
                assert rule["resourceNames"] == [name]
    assert role["metadata"]["namespace"] == BASE_DEPLOYMENT["metadata"]["namespace"]


def test_bindings_bind_the_deployments_service_account() -> None:
    account = _one(BASE / "serviceaccount.yaml", "ServiceAccount")["metadata"]
    assert POD["serviceAccountName"] == account["name"]
    bindings = [doc for _, doc in _objects(KUBE) if doc["kind"].endswith("Binding")]
    assert {doc["kind"] for doc in bindings} == {"ClusterRoleBinding", "RoleBinding"}
    roles = {(doc["kind"], doc["metadata"]["name"]) for _, doc in RBAC_ROLES}
    for binding in bindings:
        assert (binding["roleRef"]["kind"], binding["roleRef"]["name"]) in roles
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]


# --- settings: every name real, every value accepted ---------------------------------------


def _env_names_in(doc: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "env" and isinstance(value, list):
                found |= {item["name"] for item in value}
            elif key in {"data", "stringData"} and isinstance(value, dict):
                found |= set(value)
            else:
                found |= _env_names_in(value)
    elif isinstance(doc, list):
        for item in doc:
            found |= _env_names_in(item)
    return found


def test_every_podmem_and_slack_env_name_is_a_real_setting() -> None:
    names = set(BASE_CONFIG) | set(HA_CONFIG) | set(_dockerfile_env())
    for docs in DOCUMENTS.values():
        names |= _env_names_in(docs)
    # ...including the names the example Secret only mentions in comments.
    secret_text = (KUBE / "secret.example.yaml").read_text(encoding="utf-8")
    names |= set(re.findall(r"\b((?:PODMEM|SLACK)_[A-Z_]+)\b", secret_text))
    ours = {name for name in names if name.startswith(("PODMEM_", "SLACK_"))}
    assert ours - SETTING_ENV_NAMES == set()
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PODMEM_POD_NAME"} <= ours


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.startswith(("PODMEM_", "SLACK_")):
            monkeypatch.delenv(name)
    secret = _one(KUBE / "secret.example.yaml", "Secret")["stringData"]
    downward = {"PODMEM_POD_NAME": "podmem-7d9f-x2", "PODMEM_POD_NAMESPACE": "podmem"}
    for name, value in {**env, **secret, **downward}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_the_base_config_is_accepted_by_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_from(BASE_CONFIG, monkeypatch)
    assert settings.state_backend == "sqlite"
    assert settings.leader_election is False
    assert settings.slack_mode == "socket"
    assert settings.slack_channel == "#sre-memory"
    assert settings.http_port == BOT["ports"][0]["containerPort"]


def test_the_ha_config_is_accepted_by_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_from({**BASE_CONFIG, **HA_CONFIG}, monkeypatch)
    assert settings.state_backend == "kubernetes"
    assert settings.leader_election is True


# --- the HA overlay ------------------------------------------------------------------------


def test_ha_overlay_sources_say_two_replicas_with_leader_election() -> None:
    (kustomization,) = DOCUMENTS[HA / "kustomization.yaml"]
    assert "../../base" in kustomization["resources"]
    (generator,) = kustomization["configMapGenerator"]
    assert generator["name"] == "podmem-config" and generator["behavior"] == "merge"
    assert HA_CONFIG["PODMEM_LEADER_ELECTION"] == "true"
    assert HA_CONFIG["PODMEM_STATE_BACKEND"] == "kubernetes"
    patch = _one(HA / "deployment-patch.yaml", "Deployment")
    assert patch["spec"]["replicas"] == 2
    assert patch["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = patch["spec"]["template"]["spec"]
    assert {"name": "state", "$patch": "delete"} in pod["volumes"]
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["kubernetes.io/hostname"]["labelSelector"]["matchLabels"] == POD_LABELS
    pdb = _one(HA / "pdb.yaml", "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == POD_LABELS
    deleted = _one(HA / "pvc-delete.yaml", "PersistentVolumeClaim")
    assert deleted["$patch"] == "delete"
    assert (
        deleted["metadata"]["name"]
        == _one(BASE / "pvc.yaml", "PersistentVolumeClaim")["metadata"]["name"]
    )


# --- rendered by kustomize itself (when it is here) ----------------------------------------


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    return kustomize.render(directory)


def _rendered_deployment(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    return deployment


def _assert_references_resolve(docs: list[dict[str, Any]]) -> None:
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in _containers(pod):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, mount
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    assert all(d["metadata"].get("namespace") for d in docs if d["kind"] not in cluster_scoped)


BASE_KINDS = (
    *("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"),
    *("ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"),
)


def test_base_renders_one_replica_with_its_volume() -> None:
    docs = _kustomize(KUBE)
    assert sorted(d["kind"] for d in docs) == sorted(BASE_KINDS)
    _assert_references_resolve(docs)
    deployment = _rendered_deployment(docs, "podmem")
    assert deployment["spec"]["replicas"] == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "podmem:0.1.0"
    assert {d["metadata"]["namespace"] for d in docs if "namespace" in d["metadata"]} == {"podmem"}


def test_ha_overlay_renders_two_leader_electing_replicas_without_a_volume() -> None:
    docs = _kustomize(HA)
    kinds = {d["kind"] for d in docs}
    assert "PersistentVolumeClaim" not in kinds and "Secret" not in kinds
    assert "PodDisruptionBudget" in kinds
    _assert_references_resolve(docs)
    deployment = _rendered_deployment(docs, "podmem")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config["data"]["PODMEM_LEADER_ELECTION"] == "true"
    assert config["data"]["PODMEM_STATE_BACKEND"] == "kubernetes"
    assert config["data"]["PODMEM_PROMETHEUS_URL"] == BASE_CONFIG["PODMEM_PROMETHEUS_URL"]
    # The bot writes its own state ConfigMap; the manifests must never own (and overwrite) it.
    assert Settings.model_fields["state_configmap"].default not in {
        d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"
    }


def test_demo_renders_with_its_program_mounted() -> None:
    docs = _kustomize(DEMO)
    _assert_references_resolve(docs)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        "podmem-demo"
    }
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        "leak",
        "leak-file-cache",
    }


# --- the image -----------------------------------------------------------------------------


def _dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), by stage."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    stages: list[list[str]] = [[]]
    for instruction in instructions:
        if (
            instruction.upper().startswith("FROM ")
            and stages[-1]
            and any(i.upper().startswith("FROM ") for i in stages[-1])
        ):
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _dockerfile_env() -> dict[str, str]:
    final = _dockerfile_stages()[-1]
    env = {}
    for instruction in final:
        if instruction.upper().startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", instruction[4:])))
    return env


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    stages = _dockerfile_stages()
    assert len(stages) == 2
    preamble = " ".join(stages[0])
    # Pinned by a patch-level slim tag and by digest: a rebuild gets the same base image.
    assert re.search(
        r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim(-\w+)?@sha256:[0-9a-f]{64}( |$)", preamble
    ), preamble
    froms = [i for stage in stages for i in stage if i.upper().startswith("FROM ")]
    assert froms == ["FROM ${PYTHON_IMAGE} AS builder", "FROM ${PYTHON_IMAGE}"]
    assert any("pip wheel" in i for i in stages[0])


def test_dockerfile_final_stage_installs_only_wheels_and_runs_as_non_root() -> None:
    final = _dockerfile_stages()[-1]
    text = "\n".join(final)
    for tool in ("gcc", "g++", "build-essential", "make ", "apt-get install", "python3-dev"):
        assert tool not in text, tool
    (install,) = [i for i in final if "pip install" in i]
    assert "--no-index" in install and "--no-cache-dir" in install and "from=builder" in install
    users = [i.split(None, 1)[1] for i in final if i.upper().startswith("USER ")]
    assert users, "the final stage sets no USER: it would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) == APP_UID == POD["securityContext"]["runAsUser"]
    assert final[-2:] == ['ENTRYPOINT ["podmem"]', 'CMD ["run"]']
    assert f"EXPOSE {BOT['ports'][0]['containerPort']}" in final
    env = _dockerfile_env()
    assert env["MPLBACKEND"] == "Agg"
    assert env["MPLCONFIGDIR"] == "/tmp/matplotlib"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_image_version_label_is_the_package_version() -> None:
    """pyproject.toml's version is the label's (and the build checks the installed package
    against it), the chart's appVersion and `podmem --version`."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = pyproject["project"]["version"]
    preamble, final = _dockerfile_stages()[0], _dockerfile_stages()[-1]
    assert f"ARG PODMEM_VERSION={version}" in preamble
    assert "ARG PODMEM_VERSION" in final
    (label,) = [i for i in final if i.startswith("LABEL ")]
    assert 'org.opencontainers.image.version="${PODMEM_VERSION}"' in label
    (check,) = [i for i in final if "importlib.metadata" in i]
    assert "m.version('podmem')" in check and "${PODMEM_VERSION}" in check
    chart = yaml.safe_load((DEPLOY / "helm" / "podmem" / "Chart.yaml").read_text())
    assert chart["appVersion"] == version == __version__


def _docker_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""

    def regex(pattern: str) -> re.Pattern[str]:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out, i = out + pattern[i : end + 1], end + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out)

    parts = path.split("/")
    ignored = False
    for raw in patterns:
        negated = raw.startswith("!")
        compiled = regex(raw.lstrip("!").strip("/"))
        if any(compiled.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def test_dockerignore_sends_what_the_build_copies_and_nothing_else() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    copied = [
        source
        for instruction in _dockerfile_stages()[0]
        if instruction.startswith("COPY ") and "--from" not in instruction
        for source in instruction.split()[1:-1]
    ]
    assert sorted(copied) == ["README.md", "bot", "pyproject.toml"]
    for kept in ("pyproject.toml", "README.md", "bot/cli.py", "bot/settings/__init__.py"):
        assert not _docker_ignored(kept, patterns), kept
    for dropped in (
        ".git/HEAD",
        "tests/test_cli.py",
        "podmem-demo/out.txt",
        ".mypy_cache/x",
        "bot/__pycache__/cli.cpython-311.pyc",
        "podmem-state.db",
        ".env",
        "deploy/Dockerfile",
    ):
        assert _docker_ignored(dropped, patterns), dropped


# --- the demo ------------------------------------------------------------------------------


DEMO_DEPLOYMENTS = {
    doc["metadata"]["name"]: doc for path, doc in _objects(DEMO) if doc["kind"] == "Deployment"
}


def _demo_container(name: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    pod = DEMO_DEPLOYMENTS[name]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return container, {e["name"]: e["value"] for e in container.get("env", [])}, pod


def test_no_emptydir_under_deploy_is_tmpfs() -> None:
    emptydirs = [
        (path, volume)
        for path, doc in _objects()
        if doc["kind"] == "Deployment"
        for volume in doc["spec"]["template"]["spec"].get("volumes", [])
        if "emptyDir" in volume
    ]
    assert any(path.is_relative_to(DEMO) for path, _ in emptydirs)
    for path, volume in emptydirs:
        assert (volume["emptyDir"] or {}).get("medium") != "Memory", (path, volume)


def test_demo_deployments_run_the_program_from_the_configmap() -> None:
    (kustomization,) = DOCUMENTS[DEMO / "kustomization.yaml"]
    assert kustomization["namespace"] == "podmem-demo"
    (generator,) = kustomization["configMapGenerator"]
    assert generator["files"] == ["leak.py"]
    assert set(DEMO_DEPLOYMENTS) == {"leak", "leak-file-cache"}
    for name in DEMO_DEPLOYMENTS:
        container, env, pod = _demo_container(name)
        assert container["image"] == "python:3.11-alpine"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        (program,) = [
            n for n, v in volumes.items() if v.get("configMap", {}).get("name") == generator["name"]
        ]
        assert container["command"] == ["python", f"{mounts[program]}/leak.py"]
        assert container["resources"]["requests"]["memory"] == "64Mi"
        assert container["resources"]["limits"]["memory"] == "128Mi"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert not any(key.startswith(("PODMEM_", "SLACK_")) for key in env)
    _, env, _ = _demo_container("leak")
    assert env.get("WRITE_FILE", "false") == "false"


# python's own resident size at start, measured ~10-14 MiB; the timing must hold across it.
@pytest.mark.parametrize("baseline_mib", [8, 16])
def test_demo_rates_bring_the_oom_kill_after_10_to_15_minutes(baseline_mib: int) -> None:
    for name in DEMO_DEPLOYMENTS:
        container, env, pod = _demo_container(name)
        limit_kib = _mebibytes(container["resources"]["limits"]["memory"]) * 1024
        leak_after = float(env.get("LEAK_AFTER_SECONDS", 0))
        kill_at = leak_after + (limit_kib - baseline_mib * 1024) / float(env["RATE_KIB_PER_SECOND"])
        assert 600 <= kill_at <= 900, (name, kill_at)
        if env.get("WRITE_FILE") == "true":
            file_rate = float(env["FILE_RATE_KIB_PER_SECOND"])
            # Usage reaches the limit on page cache alone, well before the leak starts...
            assert file_rate * leak_after >= 2 * limit_kib
            # ...and the file fits its volume until the kill, so eviction never comes first.
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            data = volumes[mounts[str(Path(env["FILE_PATH"]).parent)]]["emptyDir"]
            assert file_rate * kill_at * 1.5 <= _mebibytes(data["sizeLimit"]) * 1024


def _run_demo(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(DEMO / "leak.py")],
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _totals(output: str) -> dict[str, int]:
    *_, last = (line for line in output.splitlines() if " allocated=" in line)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)KiB", last)}


def test_demo_program_allocates_holds_and_writes_as_told(tmp_path: Path) -> None:
    fast = {"TICK_SECONDS": "0.05", "PRINT_EVERY_SECONDS": "0.2", "STOP_AFTER_SECONDS": "1"}
    leak = _run_demo(
        {
            **fast,
            "RATE_KIB_PER_SECOND": "8192",
            "LEAK_AFTER_SECONDS": "0.5",
            "WRITE_FILE": "true",
            "FILE_RATE_KIB_PER_SECOND": "256",
            "FILE_PATH": str(tmp_path / "file"),
        }
    )
    churn = _run_demo({**fast, "RATE_KIB_PER_SECOND": "8192", "HOLD": "false"})
    leak_out, leak_err = leak.communicate(timeout=20)
    churn_out, churn_err = churn.communicate(timeout=20)
    assert leak.returncode == 0, leak_err
    assert churn.returncode == 0, churn_err

    lines = leak_out.splitlines()
    assert lines[0].startswith("leak: start")
    assert lines[-1] == "leak: stopping after 1s, as STOP_AFTER_SECONDS says"
    assert len([line for line in lines if " allocated=" in line]) >= 3, "progress is printed"
    first, last = (dict(re.findall(r"(\w+)=(\d+)KiB", line)) for line in (lines[0], lines[-2]))
    totals = _totals(leak_out)
    # The rate follows the clock: 8 MiB/s from 0.5 s to 1 s; 256 KiB/s written from 0 s.
    assert totals["allocated"] == totals["held"] == 4096
    assert totals["written"] == 256
    assert (tmp_path / "file").stat().st_size == 256 * 1024
    if int(first["rss"]):  # Linux: the pages are really resident, not just reserved
        assert int(last["rss"]) - int(first["rss"]) >= 0.75 * 4096

    churned = _totals(churn_out)
    assert churned["allocated"] == 8192 and churned["held"] == 0


def test_demo_program_refuses_bad_input_and_stops_on_sigterm() -> None:
    bad = _run_demo({"RATE_KIB_PER_SECOND": "lots"})
    _, error = bad.communicate(timeout=10)
    assert bad.returncode == 1
    assert "RATE_KIB_PER_SECOND='lots' is not a number" in error

    running = _run_demo({"RATE_KIB_PER_SECOND": "1"})
    assert running.stdout is not None
    assert running.stdout.readline().startswith("leak: start")
    running.send_signal(signal.SIGTERM)
    running.communicate(timeout=10)
    # As PID 1 in a container a SIGTERM with no handler is ignored; the handler exits cleanly.
    assert running.returncode == 0
