"""deploy/prometheus/podmem-rules.yaml: podmem's judgement as Prometheus rules.

The real promtool checks the rules and runs their unit tests (series in, alerts out, with the
traps: usage pinned by cache, a sticky OOMKilled reason, duplicated series). Then each trap is
sprung: a rule weakened the way a hand-written rule usually is (sum instead of max, usage
instead of working set, the reason without the restart) must make those unit tests fail, so
they are known to guard what they claim to."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings
from tests.prometheus_harness import require_binaries

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "podmem-rules.yaml"
UNIT_TESTS = RULES_DIR / "podmem-rules.test.yaml"
RUNBOOK = RULES_DIR / "runbook.md"


def _promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    _, promtool = require_binaries()
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False
    )


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alert(name: str) -> dict[str, Any]:
    (found,) = [rule for rule in _rules() if rule.get("alert") == name]
    return found


def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", RULES, cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = _promtool("test", "rules", UNIT_TESTS.name, cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# Weakened rules: (what a careless rule does, text in the rules, its replacement).
MUTANTS = [
    (
        "sum instead of max: duplicate series count twice",
        "max by (cluster, namespace, pod, container)",
        "sum by (cluster, namespace, pod, container)",
    ),
    (
        "usage instead of working set: page cache pages people",
        "container_memory_working_set_bytes{",
        "container_memory_usage_bytes{",
    ),
    (
        "no container filter: pod-level and pause rows alert",
        'container!="", container!="POD"',
        'container!="nothing"',
    ),
    (
        "the OOMKilled reason alone: yesterday's kill alerts again",
        ") > 0\n          )\n          and on (cluster, namespace, pod, container)\n"
        "          (\n            max by (cluster, namespace, pod, container) (\n"
        '              {__name__=~"kube_pod_(init_)?container_status_last_terminated_reason"',
        ") >= 0\n          )\n          and on (cluster, namespace, pod, container)\n"
        "          (\n            max by (cluster, namespace, pod, container) (\n"
        '              {__name__=~"kube_pod_(init_)?container_status_last_terminated_reason"',
    ),
    (
        "a restart alone: a probe kill is called an OOM kill",
        'container_status_last_terminated_reason", reason="OOMKilled"}\n            ) == 1',
        'container_status_last_terminated_reason", reason="OOMKilled"}\n            ) >= 0',
    ),
    (
        "no ratio floor: a pod warming up is imminent",
        "podmem_working_set_to_limit:ratio >= 0.5",
        "podmem_working_set_to_limit:ratio >= 0",
    ),
    (
        "no age guard: a fresh container's slope is a trend",
        'container_start_time_seconds{container!="", container!="POD"})\n            < 600',
        'container_start_time_seconds{container!="", container!="POD"})\n            < 0',
    ),
    (
        "no cache cap: cache pages as critical",
        "podmem_anonymous_to_limit:ratio < 0.8",
        "podmem_anonymous_to_limit:ratio < 0",
    ),
    (
        "no `for`: one GC spike pages",
        "        for: 5m\n        labels:\n          severity: critical\n"
        '        annotations:\n          summary: "{{ $labels.namespace }}/{{ $labels.pod }} '
        "{{ $labels.container }}: working set",
        "        labels:\n          severity: critical\n"
        '        annotations:\n          summary: "{{ $labels.namespace }}/{{ $labels.pod }} '
        "{{ $labels.container }}: working set",
    ),
    (
        "down when one of two replicas is down",
        'absent(up{job="podmem"} == 1)',
        'min(up{job="podmem"}) == 0',
    ),
    (
        "a follower that never checks is failing",
        "max by (job, instance) (podmem_leader == 1)",
        "max by (job, instance) (podmem_leader >= 0)",
    ),
]


@pytest.mark.parametrize(("why", "text", "weakened"), MUTANTS, ids=[m[0] for m in MUTANTS])
def test_a_weakened_rule_fails_the_unit_tests(
    tmp_path: Path, why: str, text: str, weakened: str
) -> None:
    rules = RULES.read_text(encoding="utf-8")
    assert text in rules, f"the rules no longer contain {text!r}: update this mutant"
    (tmp_path / RULES.name).write_text(rules.replace(text, weakened), encoding="utf-8")
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    assert _promtool("check", "rules", RULES.name, cwd=tmp_path).returncode == 0
    result = _promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0, f"unit tests still pass with {why}"


def test_thresholds_are_the_settings_defaults() -> None:
    """The rules are podmem's judgement at its defaults: a changed default changes them."""
    d = Settings.model_fields
    crit, warn = d["critical_ratio"].default, d["warning_ratio"].default
    expressions = {
        "PodmemContainerMemoryCritical": [f">= {crit:g}", f"< {warn:g}"],
        "PodmemContainerMemoryWarning": [f">= {warn:g}"],
        "PodmemContainerMemoryLimitImminent": [
            f"< {d['critical_time_to_limit_seconds'].default:g} > 0",
            f">= {d['critical_time_to_limit_min_ratio'].default:g}",
            f"< {d['trend_min_age_seconds'].default:g}",
            f"[{d['trend_window_seconds'].default / 60:g}m]",
        ],
    }
    for name, needles in expressions.items():
        for needle in needles:
            assert needle in _alert(name)["expr"], f"{name}: {needle!r}"
    for_minutes = f"{d['for_duration_seconds'].default / 60:g}m"
    assert _alert("PodmemContainerMemoryCritical")["for"] == for_minutes
    assert _alert("PodmemContainerMemoryWarning")["for"] == for_minutes


def test_every_alert_says_what_why_and_where_to_read_more() -> None:
    alerts = [rule for rule in _rules() if "alert" in rule]
    assert len(alerts) >= 9
    headings = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(encoding="utf-8"), re.M))
    for alert in alerts:
        annotations = alert["annotations"]
        assert {"summary", "description", "runbook_url"} <= annotations.keys(), alert["alert"]
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert annotations["runbook_url"].endswith(f"runbook.md#{alert['alert'].lower()}")
        assert alert["alert"] in headings, f"runbook.md has no section {alert['alert']}"


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == {rule["alert"] for rule in _rules() if "alert" in rule}


def test_rules_read_only_records_made_before_them_in_their_own_group() -> None:
    """Rules of one group run in order at one evaluation time; across groups the order is not
    defined, and a rule reading another group's record may see the previous evaluation's
    (a minute stale: promtool's unit tests then pass or fail by chance)."""
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    for group in groups:
        made: set[str] = set()
        for rule in group["rules"]:
            used = recorded & set(re.findall(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", rule["expr"]))
            assert used <= made, f"{rule.get('alert') or rule['record']} reads {used - made}"
            if "record" in rule:
                made.add(rule["record"])
