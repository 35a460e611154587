"""Every manifest podmem ships validates against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields are errors), for a current Kubernetes version.
Kustomize patches are partial objects and are checked as rendered by the overlay test in
test_deploy.py; CRDs (ServiceMonitor) are not in the core schemas and are skipped by kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests import kustomize

ROOT = Path(__file__).parent.parent
VERSION = kubernetes_validate.latest_version()  # the newest release the package knows
CORE_API_GROUPS = (
    "v1",
    "apps/v1",
    "batch/v1",
    "rbac.authorization.k8s.io/v1",
    "policy/v1",
    "coordination.k8s.io/v1",
)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def _patches() -> set[Path]:
    found: set[Path] = set()
    for kustomization in ROOT.glob("deploy/**/kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text()) or {}
        for patch in spec.get("patches", []) + spec.get("patchesStrategicMerge", []):
            name = patch.get("path") if isinstance(patch, dict) else patch
            if name:
                found.add((kustomization.parent / name).resolve())
    return found


MANIFESTS = [
    (path, doc)
    for path in sorted(ROOT.glob("deploy/**/*.yaml"))
    if path.name != "kustomization.yaml"
    and path.parent.name != "slack"
    # Go templates, rendered and validated by tests/test_helm_chart.py.
    and "templates" not in path.parts
    and path.resolve() not in _patches()
    for doc in _documents(path)
    if doc.get("apiVersion") in CORE_API_GROUPS
]


def test_there_is_something_to_validate() -> None:
    kinds = {doc["kind"] for _, doc in MANIFESTS}
    assert {"Deployment", "ClusterRole", "Role", "ServiceAccount", "Service"} <= kinds


@pytest.mark.parametrize(
    ("path", "doc"), MANIFESTS, ids=[f"{p.relative_to(ROOT)}:{d['kind']}" for p, d in MANIFESTS]
)
def test_manifest_matches_the_kubernetes_schema(path: Path, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def _render(directory: str) -> list[dict[str, Any]]:
    return kustomize.render(directory)


@pytest.mark.parametrize(
    "directory", ["deploy/kubernetes", "deploy/kubernetes/overlays/ha", "deploy/demo"]
)
def test_rendered_kustomizations_match_the_schema(directory: str) -> None:
    for doc in _render(directory):
        if doc.get("apiVersion") in CORE_API_GROUPS:
            kubernetes_validate.validate(doc, VERSION, strict=True)
