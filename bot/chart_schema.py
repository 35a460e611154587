"""The Helm chart's values.schema.json, generated from the settings model so it cannot drift.

`config:` in the chart's values holds podmem's settings by their own keys (the README's
configuration table), `secret:` its secret ones; both schemas come from `Settings`, so a new
setting or route field is accepted by the chart, and a wrong type or unknown key refused by
`helm install`, the moment the code has it. The chart's own keys (image, ha, resources...)
are described here by hand.

`python -m bot.chart_schema` prints it; `... --write deploy/helm/podmem/values.schema.json`
writes it; a test fails when the chart's copy differs.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.settings import Settings
from bot.settings.slack import AccessRule, Route

# Settings the chart sets itself: from `ha` (one replica on SQLite, or several with leader
# election and the state in a ConfigMap), from the pod (downward API), or at the volume.
CHART_OWNED = ("state_backend", "leader_election", "state_path", "pod_name", "pod_namespace")
# JSON Schema annotations pydantic adds that validate nothing (format "path" and "password"
# are unknown to Helm's validator).
_NOISE = ("title", "format", "writeOnly")


def secret_fields() -> list[str]:
    """Settings that hold credentials: they go in a Secret, never a ConfigMap."""
    return [
        name
        for name, field in Settings.model_fields.items()
        if SecretStr in (field.annotation, *typing.get_args(field.annotation))
    ]


def config_fields() -> list[str]:
    hidden = {*CHART_OWNED, *secret_fields()}
    return [name for name in Settings.model_fields if name not in hidden]


def _clean(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items() if k not in _NOISE}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _object(properties: dict[str, Any], description: str = "", **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    return {**schema, "properties": properties, "additionalProperties": False, **extra}


_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
# Kubernetes' own objects (tolerations, affinity, env entries) are passed through as given and
# validated by the API server; here only their outer shape.
_OBJECTS = {"type": "array", "items": {"type": "object"}}
_QUANTITY = {"type": ["string", "number"]}


def _chart_properties() -> dict[str, Any]:
    resources = _object(
        {
            "requests": _object({"cpu": _QUANTITY, "memory": _QUANTITY}),
            "limits": _object({"cpu": _QUANTITY, "memory": _QUANTITY}),
        },
        "The container's requests and limits.",
    )
    return {
        "nameOverride": _STRING,
        "fullnameOverride": _STRING,
        "image": _object(
            {
                "repository": {"type": "string", "minLength": 1},
                "tag": {**_STRING, "description": "Empty: the chart's appVersion."},
                "digest": {"type": "string", "pattern": "^(sha256:[0-9a-f]{64})?$"},
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
            },
            "Where the image podmem runs from (build and push it: deploy/Dockerfile).",
            required=["repository"],
        ),
        "imagePullSecrets": {
            "type": "array",
            "items": _object({"name": _STRING}, required=["name"]),
        },
        "ha": _object(
            {
                "enabled": _BOOL,
                "replicas": {"type": "integer", "minimum": 2},
            },
            "Several replicas: leader election, state in a ConfigMap, a PodDisruptionBudget.",
        ),
        "persistence": _object(
            {"size": _QUANTITY, "storageClassName": _STRING},
            "The SQLite state's volume of the single replica (not used with ha).",
        ),
        "secret": _object(
            {
                "existingSecret": {
                    **_STRING,
                    "description": "A Secret you created, with SLACK_BOT_TOKEN and "
                    "SLACK_APP_TOKEN (or SLACK_SIGNING_SECRET); the inline values are then unused.",
                },
                **{name: _STRING for name in secret_fields()},
            },
            "Credentials, by their setting keys. Inline values make the chart create the Secret.",
        ),
        "config": {},  # filled from the settings
        "resources": resources,
        "nodeSelector": _LABELS,
        "tolerations": _OBJECTS,
        "affinity": {"type": "object"},
        "extraEnv": {
            "type": "array",
            "items": {"type": "object", "required": ["name"]},
            "description": "More env entries for the container (Kubernetes EnvVar objects).",
        },
        "extraVolumes": {
            "type": "array",
            "items": {"type": "object", "required": ["name"]},
            "description": "More pod volumes (Kubernetes Volume objects), e.g. a TLS Secret.",
        },
        "extraVolumeMounts": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "mountPath"]},
            "description": "Where the container mounts them (VolumeMount objects).",
        },
        "podAnnotations": _LABELS,
        "podLabels": _LABELS,
        "serviceAccount": _object({"annotations": _LABELS}),
        "serviceMonitor": _object(
            {"enabled": _BOOL, "interval": _STRING, "labels": _LABELS},
            "A Prometheus Operator ServiceMonitor for podmem's /metrics (needs its CRD).",
        ),
        "prometheusRule": _object(
            {"enabled": _BOOL, "labels": _LABELS, "runbookBaseUrl": _STRING},
            "podmem's judgement as a PrometheusRule (deploy/prometheus/podmem-rules.yaml).",
        ),
        "global": {"type": "object"},
    }


def _nested_as_written() -> dict[str, Any]:
    """Routes and access rules as users write them: by their aliases (a route's `continue`).
    The settings themselves are keyed by field name (their aliases are environment names)."""
    found: dict[str, Any] = {}
    for model in (Route, AccessRule):
        schema = _clean(model.model_json_schema(by_alias=True))
        found |= schema.pop("$defs", {})
        found[model.__name__] = schema
    return found


def values_schema() -> dict[str, Any]:
    settings = _clean(Settings.model_json_schema(by_alias=False))
    settings["$defs"] = {**settings.get("$defs", {}), **_nested_as_written()}
    config = _object(
        {name: settings["properties"][name] for name in config_fields()},
        "podmem's settings by their keys in the README's configuration table.",
    )
    properties = _chart_properties()
    properties["config"] = config
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated by `python -m bot.chart_schema --write` from bot/settings: "
        "do not edit.",
        **_object(properties),
        "$defs": settings.get("$defs", {}),
    }


def render() -> str:
    return json.dumps(values_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        Path(sys.argv[2]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
