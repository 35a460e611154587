"""Per-container thresholds: the settings, unless the pod says otherwise.

Pods carry `podmem.io/warning` and `podmem.io/critical` annotations (ratios of the limit, as
in the settings), exported by kube-state-metrics once allow-listed. Every place that uses a
threshold — the verdict, which containers a check looks at closely, when an alert resolves,
the digest's bars — gets it from here, through the assessment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from bot.analysis import Assessment, Thresholds, assess
from bot.model import ContainerMemory, ContainerRef

WARNING_ANNOTATION = "podmem.io/warning"
CRITICAL_ANNOTATION = "podmem.io/critical"


def thresholds_for(memory: ContainerMemory, base: Thresholds) -> tuple[Thresholds, list[str]]:
    """The container's thresholds and, for each annotation that cannot be used, one line
    naming the pod, the value and what is used instead."""
    if not memory.threshold_annotations:  # nearly every container: the settings
        return base, []
    given = dict(memory.threshold_annotations)
    problems: list[str] = []
    pod = f"{memory.ref.namespace}/{memory.ref.pod}"

    def ratio(key: str, default: float) -> float | None:
        text = given.get(key)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= 1:  # also refuses NaN
            problems.append(
                f"pod {pod}: {key} {text!r} is not a ratio of the limit between 0 and 1 "
                f'(e.g. "0.95"); using {default:g}'
            )
            return None
        return value

    warning = ratio(WARNING_ANNOTATION, base.warning_ratio)
    critical = ratio(CRITICAL_ANNOTATION, base.critical_ratio)
    if warning is None and critical is None:
        return base, problems
    warning = base.warning_ratio if warning is None else warning
    if critical is None:
        # Only a warning given: keep the gap to the default critical, or halve what is left
        # to 100 % when the warning sits above the default critical.
        critical = base.critical_ratio if warning < base.critical_ratio else (warning + 1) / 2
    if critical < warning:
        problems.append(
            f"pod {pod}: {CRITICAL_ANNOTATION} {critical:g} is below its warning {warning:g}; "
            f"using {warning:g} for both"
        )
        critical = warning
    return replace(base, warning_ratio=warning, critical_ratio=critical), problems


def assess_all(
    containers: Iterable[ContainerMemory],
    base: Thresholds,
    *,
    at: datetime,
    oom_kills: Mapping[ContainerRef, int] | None = None,
) -> tuple[tuple[Assessment, ...], tuple[str, ...]]:
    """Every container judged by its own thresholds; the annotation problems, once each."""
    kills = oom_kills or {}
    assessments, problems = [], {}
    for memory in containers:
        thresholds, said = thresholds_for(memory, base)
        problems.update(dict.fromkeys(said))
        assessments.append(assess(memory, thresholds, at=at, oom_kills=kills.get(memory.ref, 0)))
    return tuple(assessments), tuple(problems)
