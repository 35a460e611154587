"""deploy/helm/podmem: the Helm chart, linted and rendered by Helm's own engine.

Debian has no `helm`; helm-python-sdk (a test dependency) bundles Helm's Go library, so `lint`
and `render` here are Helm's, not an imitation. Every rendered manifest must pass the
Kubernetes schemas (strict), reach the bot as the settings it was given, and match the
kustomize manifests in everything that matters for security and behaviour.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot import chart_schema
from bot.settings import Settings, env_name, load_settings
from tests import kustomize
from tests.prometheus_harness import require_binaries

helm = pytest.importorskip("helm_python", reason="pip install -e '.[test]' (helm-python-sdk)")

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "podmem"
RULES = ROOT / "deploy" / "prometheus" / "podmem-rules.yaml"
BAD_VALUES = Path(__file__).parent / "fixtures" / "helm" / "bad-values.yaml"
VERSION = kubernetes_validate.latest_version()
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _values(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    return loaded


VALUE_SETS = {
    "default": {},
    "ha": _values("ha"),
    "routes": _values("routes"),
    "tls": _values("tls"),
}


def _render(
    values: dict[str, Any], name: str = "podmem", namespace: str = "podmem"
) -> dict[str, dict[str, Any]]:
    """The rendered objects by kind/name (NOTES.txt aside)."""
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)  # what `helm install` does before rendering
        rendered = chart.render(values, name=name, namespace=namespace)
    objects = {}
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def _notes(values: dict[str, Any]) -> str:
    with helm.Chart.load(CHART) as chart:
        return chart.render(values, name="podmem", namespace="podmem")["podmem/templates/NOTES.txt"]


def _kind(objects: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in objects.values() if doc["kind"] == kind]
    return found


def _container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = _kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


# --- lint and render -----------------------------------------------------------------------


@pytest.mark.parametrize("which", VALUE_SETS)
def test_helm_lint_strict_finds_nothing(which: str) -> None:
    report = helm.lint(CHART, VALUE_SETS[which], strict=True, namespace="podmem")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert problems == [], problems


@pytest.mark.parametrize("which", VALUE_SETS)
def test_rendered_manifests_match_the_kubernetes_schema(which: str) -> None:
    objects = _render(VALUE_SETS[which])
    checked = 0
    for doc in objects.values():
        if doc["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(doc, VERSION, strict=True)
            checked += 1
    assert checked >= 8


def test_the_optional_parts_are_off_by_default_and_there_when_asked() -> None:
    assert not CRD_KINDS & {doc["kind"] for doc in _render({}).values()}
    routes = _render(VALUE_SETS["routes"])
    monitor = _kind(routes, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = _kind(routes, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    # The health alerts select job="podmem": the job is taken from this label.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "podmem"


# --- the settings reach the bot --------------------------------------------------------------


def test_values_schema_is_generated_from_the_settings() -> None:
    """python -m bot.chart_schema --write deploy/helm/podmem/values.schema.json"""
    assert (CHART / "values.schema.json").read_text(encoding="utf-8") == chart_schema.render()


def test_every_setting_has_a_home_in_the_values() -> None:
    schema = chart_schema.values_schema()["properties"]
    homes = {
        **dict.fromkeys(schema["config"]["properties"], "config"),
        **dict.fromkeys(set(schema["secret"]["properties"]) - {"existingSecret"}, "secret"),
        **dict.fromkeys(chart_schema.CHART_OWNED, "chart"),
    }
    assert set(homes) == set(Settings.model_fields)


def _pod_settings(
    objects: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, secret: dict[str, str]
) -> Settings:
    """The settings podmem builds from the pod's environment: the ConfigMap, the Secret and
    the downward API, as envFrom and env deliver them."""
    for name in list(os.environ):
        if name.startswith(("PODMEM_", "SLACK_")):
            monkeypatch.delenv(name)
    env = {**_kind(objects, "ConfigMap")["data"], **secret}
    env |= {"PODMEM_POD_NAME": "podmem-7d9f-x2", "PODMEM_POD_NAMESPACE": "podmem"}
    for entry in _container(objects)["env"]:
        env.setdefault(entry["name"], entry.get("value", ""))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_probes_and_metrics_move_to_metrics_port_when_it_is_set() -> None:
    objects = _render({"config": {"metrics_port": 3001}, "serviceMonitor": {"enabled": True}})
    container = _container(objects)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 3000, "metrics": 3001}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics", probe
    service = {p["name"]: p["port"] for p in _kind(objects, "Service")["spec"]["ports"]}
    assert service == {"http": 3000, "metrics": 3001}
    (endpoint,) = _kind(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    default = _container(_render({}))
    assert default["livenessProbe"]["httpGet"]["port"] == "http"


def test_a_tls_secret_is_mounted_where_the_settings_read_it() -> None:
    objects = _render(VALUE_SETS["tls"])
    pod = _kind(objects, "Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in _container(objects)["volumeMounts"] if m["name"] == "prometheus-tls"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "prometheus-tls"]
    assert volume["secret"]["secretName"] == "podmem-prometheus-tls" and mount["readOnly"]
    env = _kind(objects, "ConfigMap")["data"]
    for key in ("PODMEM_PROMETHEUS_CA_FILE", "PODMEM_PROMETHEUS_CLIENT_CERT_FILE"):
        assert env[key].startswith(mount["mountPath"] + "/")


def test_routes_and_access_rules_written_as_yaml_reach_the_bot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = VALUE_SETS["routes"]
    objects = _render(values)
    secret = _kind(objects, "Secret")["stringData"]
    settings = _pod_settings(objects, monkeypatch, secret)
    config = values["config"]
    assert [r.model_dump(exclude_defaults=True, by_alias=True) for r in settings.routes] == config[
        "routes"
    ]
    assert [a.model_dump(exclude_defaults=True) for a in settings.access_rules] == config[
        "access_rules"
    ]
    for key in ("prometheus_headers", "warning_ratio", "rightsizing_min_freed_bytes"):
        assert getattr(settings, key) == config[key], key
    assert settings.grafana_url_template == config["grafana_url_template"]
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == values["secret"]["slack_bot_token"]
    assert settings.webhook_secret is not None
    assert settings.state_backend == "sqlite" and not settings.leader_election


def test_every_setting_at_its_default_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each config key set to its default value renders to an env var podmem reads back as
    that value: numbers stay numbers (no 2.68e+08), booleans booleans, maps maps."""
    defaults = {
        name: Settings.model_fields[name].get_default(call_default_factory=True)
        for name in chart_schema.config_fields()
    }
    config = {name: value for name, value in defaults.items() if value is not None}
    objects = _render({"config": config})
    settings = _pod_settings(objects, monkeypatch, {"SLACK_BOT_TOKEN": "xoxb-1"})
    for name, value in config.items():
        assert getattr(settings, name) == value, name


def test_secret_keys_are_the_settings_env_names() -> None:
    inline = {name: f"value-of-{name}" for name in chart_schema.secret_fields()}
    objects = _render({"secret": inline})
    secret = _kind(objects, "Secret")
    assert secret["stringData"] == {env_name(k): v for k, v in inline.items()}
    envfrom = _container(objects)["envFrom"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in envfrom


def test_an_existing_secret_is_used_and_none_created() -> None:
    objects = _render({"secret": {"existingSecret": "mine", "slack_bot_token": "ignored"}})
    assert "Secret" not in {doc["kind"] for doc in objects.values()}
    assert {"secretRef": {"name": "mine"}} in _container(objects)["envFrom"]


def test_rbac_names_follow_the_lease_and_state_settings() -> None:
    def pinned(objects: dict[str, dict[str, Any]]) -> set[str]:
        rules = _kind(objects, "Role")["rules"]
        return {name for rule in rules for name in rule.get("resourceNames", [])}

    fields = Settings.model_fields
    assert pinned(_render({})) == {
        fields["lease_name"].default,
        fields["state_configmap"].default,
    }
    custom = {"config": {"lease_name": "pm-lease", "state_configmap": "pm-state"}}
    assert pinned(_render(custom)) == {"pm-lease", "pm-state"}


# --- one switch for HA ------------------------------------------------------------------------


def test_ha_is_one_switch() -> None:
    single, ha = _render({}), _render(VALUE_SETS["ha"])
    assert _kind(single, "Deployment")["spec"]["replicas"] == 1
    assert _kind(single, "Deployment")["spec"]["strategy"]["type"] == "Recreate"
    assert {"PersistentVolumeClaim"} <= {d["kind"] for d in single.values()}
    assert "PodDisruptionBudget" not in {d["kind"] for d in single.values()}
    deployment = _kind(ha, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "PersistentVolumeClaim" not in {d["kind"] for d in ha.values()}
    assert _kind(ha, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    data = _kind(ha, "ConfigMap")["data"]
    assert data["PODMEM_LEADER_ELECTION"] == "true"
    assert data["PODMEM_STATE_BACKEND"] == "kubernetes"
    assert (
        _render({"ha": {"enabled": True, "replicas": 3}})["Deployment/podmem"]["spec"]["replicas"]
        == 3
    )


# --- parity with kustomize -----------------------------------------------------------------


def _kustomize(directory: str) -> dict[str, dict[str, Any]]:
    docs = kustomize.render(directory)
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


PARITY = [("deploy/kubernetes", "default"), ("deploy/kubernetes/overlays/ha", "ha")]


@pytest.mark.parametrize(("directory", "which"), PARITY, ids=["single", "ha"])
def test_chart_and_kustomize_agree(directory: str, which: str) -> None:
    kust = _kustomize(directory)
    chart = _render(VALUE_SETS[which])
    assert {d["kind"] for d in kust.values()} - {"Namespace"} == {
        d["kind"] for d in chart.values()
    } - {"Secret"}

    kpod = _kind(kust, "Deployment")["spec"]["template"]["spec"]
    cpod = _kind(chart, "Deployment")["spec"]["template"]["spec"]
    (kbot,), (cbot,) = kpod["containers"], cpod["containers"]
    assert cpod["securityContext"] == kpod["securityContext"]
    assert cbot["securityContext"] == kbot["securityContext"]
    for key in ("startupProbe", "livenessProbe", "readinessProbe", "ports", "args", "resources"):
        assert cbot[key] == kbot[key], key
    assert cbot["env"] == kbot["env"]
    for key in ("automountServiceAccountToken", "enableServiceLinks"):
        assert cpod[key] == kpod[key], key
    assert cbot["volumeMounts"] == kbot["volumeMounts"]
    assert [v["name"] for v in cpod["volumes"]] == [v["name"] for v in kpod["volumes"]]
    kdeploy, cdeploy = _kind(kust, "Deployment")["spec"], _kind(chart, "Deployment")["spec"]
    assert cdeploy["replicas"] == kdeploy["replicas"]
    assert cdeploy["strategy"] == kdeploy["strategy"]

    # The chart's spread selects its release's pods (one more label); the rest is the same.
    def spread(pod: dict[str, Any]) -> list[dict[str, Any]]:
        constraints = pod.get("topologySpreadConstraints", [])
        return [{k: v for k, v in c.items() if k != "labelSelector"} for c in constraints]

    assert spread(cpod) == spread(kpod)

    # envFrom: the same sources, in the same order (kustomize hashes the ConfigMap's name).
    kinds = [next(iter(source)) for source in kbot["envFrom"]]
    assert kinds == [next(iter(source)) for source in cbot["envFrom"]]
    # The same settings, byte for byte.
    assert _kind(chart, "ConfigMap")["data"] == _kind(kust, "ConfigMap")["data"]

    for kind in ("ClusterRole", "Role"):
        assert _kind(chart, kind)["rules"] == _kind(kust, kind)["rules"], kind
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        assert _kind(chart, kind)["roleRef"]["kind"] == _kind(kust, kind)["roleRef"]["kind"]
        assert [s["kind"] for s in _kind(chart, kind)["subjects"]] == ["ServiceAccount"]
    assert _kind(chart, "Service")["spec"]["ports"] == _kind(kust, "Service")["spec"]["ports"]


# --- the bad values file -----------------------------------------------------------------------


def test_a_bad_values_file_is_refused_naming_every_key() -> None:
    bad = yaml.safe_load(BAD_VALUES.read_text(encoding="utf-8"))
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError) as refused:
        chart.validate_schema(bad)
    message = str(refused.value)
    for where in (
        "/config/warning_ratio",
        "/config/routes",
        "/config/access_rules/0",
        "slack_chanel",
        "/ha/enabled",
        "replicas",
    ):
        assert where in message, (where, message)
    report = helm.lint(CHART, bad, strict=True)
    assert any(m["severity"] == 3 for m in report["messages"]), report


@pytest.mark.parametrize(
    "bad",
    [
        {"config": {"check_interval_seconds": 1}},  # below the settings' ge=5
        {"config": {"routes": [{"namespaces": ["shop"]}]}},  # a route needs a channel
        {"config": {"slack_mode": "websocket"}},
        {"image": {"digest": "latest"}},
        {"ha": {"enabled": True, "replicas": 1}},
        {"secret": {"slack_bot_token": 12345}},
        {"resources": {"limit": {"memory": "1Gi"}}},
    ],
)
def test_the_schema_refuses(bad: dict[str, Any]) -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(bad)


# --- image, version, rules, notes --------------------------------------------------------------


def test_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["appVersion"] == PYPROJECT_VERSION
    assert _container(_render({}))["image"] == f"podmem:{PYPROJECT_VERSION}"


def test_the_image_is_repository_tag_and_digest() -> None:
    image = VALUE_SETS["routes"]["image"]
    expected = f"{image['repository']}:{image['tag']}@{image['digest']}"
    assert _container(_render(VALUE_SETS["routes"]))["image"] == expected
    assert (
        _container(_render({"image": {"repository": "r.example.com/p", "tag": "t"}}))["image"]
        == "r.example.com/p:t"
    )


def test_the_prometheus_rule_is_podmem_rules_yaml(tmp_path: Path) -> None:
    copy = CHART / "files" / RULES.name
    assert copy.read_text(encoding="utf-8") == RULES.read_text(encoding="utf-8"), (
        f"cp {RULES.relative_to(ROOT)} {copy.relative_to(ROOT)}"
    )
    rule = _kind(_render(VALUE_SETS["routes"]), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))
    # What the operator hands Prometheus must be a rule file promtool accepts.
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    _, promtool = require_binaries()
    checked = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "rules.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_runbook_links_follow_the_values() -> None:
    base = "https://wiki.example.com/podmem-runbook"
    values = {"prometheusRule": {"enabled": True, "runbookBaseUrl": base}}
    rule = _kind(_render(values), "PrometheusRule")
    urls = [
        r["annotations"]["runbook_url"]
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        if "alert" in r
    ]
    assert urls and all(re.fullmatch(re.escape(base) + r"#podmem\w+", url) for url in urls)


def test_notes_say_what_to_do_next() -> None:
    notes = _notes({})
    assert "/invite @podmem" in notes and "/podmem help" in notes
    assert "image.repository" in notes  # the default image is in no registry
    assert "create secret generic podmem-slack" in notes
    ready = _notes(VALUE_SETS["ha"])
    assert "image.repository" not in ready and "create secret" not in ready
    assert "2 replicas" in ready


DOCS = [ROOT / "README.md", CHART / "README.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_documented_helm_commands_use_real_values(doc: Path) -> None:
    """Every `helm install/upgrade` in the docs names this chart and values it accepts."""
    text = re.sub(r"\\\n\s*", " ", doc.read_text(encoding="utf-8"))
    commands = re.findall(r"^helm (?:install|upgrade) .*$", text, re.M)
    assert commands, f"{doc.name} shows no helm install"
    with helm.Chart.load(CHART) as chart:
        for command in commands:
            assert " deploy/helm/podmem " in command, command
            assignments = [
                a.replace("'", "").replace('"', "").replace("$REGISTRY", "registry.example.com")
                for a in re.findall(r"--set (\S+)", command)
            ]
            values = helm.parse_set_string(",".join(assignments))
            for path in re.findall(r"-f (\S+)", command):  # a values file the docs ship
                given = ROOT / path
                if given.is_file():
                    values = {**yaml.safe_load(given.read_text(encoding="utf-8")), **values}
            assert values, command
            chart.validate_schema(values)
    assert 'docker build -f deploy/Dockerfile -t "$REGISTRY/podmem:$VERSION" .' in text
    assert 'docker push "$REGISTRY/podmem:$VERSION"' in text
