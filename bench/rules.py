"""The peer (issue 15, item 2): what Prometheus spends evaluating podmem's own PrometheusRule
group (deploy/prometheus/podmem-rules.yaml, group podmem.memory) at one instant.

Each rule's expression is sent to /api/v1/query at the cycle's instant, one after the other
in the group's order, as Prometheus evaluates a group (sequentially, by default). A rule that
reads a record of the group reads it *inlined*, `(its expression)`: the backfilled data has
no recorded series, and every record is read as an instant vector, so inlining gives the
same answer. It also recomputes those records, so `rules_s` is an upper bound of the group's
cost; `rules_base_s` (only the rules that read raw series: the records over cAdvisor and
kube-state-metrics, and the alerts that read no record) is a lower bound.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests
import yaml

RULES = Path(__file__).parent.parent / "deploy" / "prometheus" / "podmem-rules.yaml"
GROUP = "podmem.memory"


@dataclass(frozen=True)
class Rule:
    name: str
    expr: str  # with the group's records it reads inlined
    reads_records: bool


def group_rules(path: Path = RULES, group: str = GROUP) -> list[Rule]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    (rules,) = [g["rules"] for g in document["groups"] if g["name"] == group]
    records: dict[str, str] = {}
    out = []
    for rule in rules:
        expr, reads = rule["expr"].strip(), False
        for name, body in records.items():
            pattern = re.compile(rf"(?<![\w:]){re.escape(name)}(?![\w:])")
            if pattern.search(expr):
                expr, reads = pattern.sub(lambda _m, b=body: f"({b})", expr), True
        if "record" in rule:
            records[rule["record"]] = expr
        out.append(Rule(rule.get("record") or rule["alert"], expr, reads))
    return out


def rules_seconds(url: str, at: datetime, rules: list[Rule]) -> tuple[float, float]:
    """(every rule, only the rules that read raw series): seconds, one query at a time."""
    session = requests.Session()
    total = base = 0.0
    for rule in rules:
        started = time.perf_counter()
        response = session.post(
            f"{url}/api/v1/query",
            data={"query": rule.expr, "time": f"{at.timestamp():.3f}"},
            timeout=300,
        )
        took = time.perf_counter() - started
        response.raise_for_status()
        total += took
        if not rule.reads_records:
            base += took
    return total, base
