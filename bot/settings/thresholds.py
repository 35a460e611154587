"""What counts as a problem: verdict thresholds, OOM windows, alert lifecycle timings."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class ThresholdFields(BaseModel):
    warning_ratio: float = Field(
        0.80,
        gt=0,
        lt=1,
        description="Working set / limit at or above which a container is `warning`.",
    )
    critical_ratio: float = Field(
        0.90,
        gt=0,
        le=1,
        description="Working set / limit at or above which a container is `critical`.",
    )
    critical_time_to_limit_seconds: float = Field(
        1800,
        ge=0,
        description="Seconds: a container whose working set, growing at its current rate, "
        "reaches the limit sooner than this is `critical` whatever its ratio. 30 min leaves "
        "time to act before the kill.",
    )
    critical_time_to_limit_min_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Working set / limit below which a short time to the limit is not "
        "critical: a pod at 30 % that grows fast is warming up, not about to die. 0.5: an "
        "established leak is paged with half the limit still to go.",
    )
    trend_min_age_seconds: float = Field(
        600,
        ge=0,
        description="Seconds a container must have run before its growth rate can make it "
        "critical: a slope over a pod's first minutes is its warm-up (caches filling, JIT, "
        "connection pools). 10 min of the current container's life, from cAdvisor's "
        "container_start_time_seconds.",
    )
    thrashing_stalled_ratio: float = Field(
        0.10,
        gt=0,
        le=1,
        description="Fraction of the last 5 min a container spent fully stalled on memory "
        "(cAdvisor's PSI, container_pressure_memory_stalled_seconds_total) at or above which "
        "it is at least `warning`, whatever its ratio: it thrashes, reclaiming cache it needs "
        "again. 10 %: a tenth of its time doing nothing but waiting for memory.",
    )
    oom_crashloop_kills: int = Field(
        2,
        ge=1,
        description="OOM kills of one container inside the look-back at or above which it is "
        "at least `warning` whatever its figures now: a crash loop of kills reads as fine "
        "between two of them.",
    )
    cache_heavy_usage_ratio: float = Field(
        0.90,
        gt=0,
        le=1,
        description="Usage / limit at or above which a container whose working set is below "
        "the warning ratio is called `cache_heavy`: it looks full, but the kernel will "
        "reclaim the cache before it kills anything.",
    )
    for_duration_seconds: float = Field(
        300,
        ge=0,
        description="Seconds a ratio must hold before it counts, evaluated statelessly as "
        "min_over_time in PromQL, so a restart of the bot changes nothing. 5 min, as in "
        "most Alertmanager memory rules: one GC spike does not page anyone.",
    )
    trend_window_seconds: float = Field(
        1800,
        ge=120,
        description="Seconds of history used for the growth rate (PromQL deriv). 30 min "
        "smooths GC saw-teeth yet still sees a leak start.",
    )
    report_range_seconds: float = Field(
        10800,
        ge=300,
        description="Seconds of history a report shows by default (3 h).",
    )

    oom_lookback_seconds: float = Field(
        900,
        ge=60,
        description="Seconds: a kill older than this is history, not news. 15 min covers a "
        "few missed check cycles without re-announcing yesterday's kills.",
    )
    oom_group_window_seconds: float = Field(
        600,
        ge=0,
        description="Seconds: kills of pods of one workload this close together form one group "
        "(one message), as a bad rollout kills many replicas at once.",
    )
    kill_thread_seconds: float = Field(
        3600,
        ge=0,
        description="Seconds: a workload's next OOM kills within this of its last are told in "
        "the thread of its first kill message, so a crash loop is one message, not one an hour.",
    )
    oom_context_seconds: float = Field(
        900,
        ge=60,
        description="Seconds of memory history before a kill used for its peaks and story.",
    )

    digest_top: int = Field(10, ge=1, le=50, description="Containers per list in the digest.")
    digest_floor_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description='The digest\'s "closest to their limit" lists only containers whose '
        "working set is at least this share of their limit: a quiet day says so.",
    )
    rightsizing_window_seconds: float = Field(
        604800,
        ge=3600,
        description="Seconds of history right-sizing looks at (7 d: a weekly cycle).",
    )
    rightsizing_step_seconds: float = Field(
        900,
        ge=15,
        description="Resolution of that history, seconds. Coarse on purpose: 7 d of raw "
        "samples for 20 000 containers exceeds Prometheus's per-query sample limit.",
    )
    rightsizing_headroom_ratio: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Headroom over the observed working set in suggestions (peak x 1.15 for "
        "limits, p95 x 1.15 for requests), as VPA recommends.",
    )
    rightsizing_min_freed_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="A request is listed as over-provisioned only if lowering it frees at "
        "least this much (256 MiB): smaller wins are noise in a digest.",
    )
    storm_threshold: int = Field(
        10,
        ge=2,
        description="More new alerts than this in one namespace, or on one node, in one check "
        "are told as one storm message with the list in its thread, not one post each (several "
        "storms for one channel in one check are one message): a bad rollout must not cost "
        "minutes of Slack's one message per second per channel.",
    )
    mute_seconds: float = Field(
        7 * 86400,
        ge=60,
        description="How long the Mute workload button silences a workload (7 days): a mute "
        "nobody remembers must not hide next month's leak.",
    )
    repeat_interval_seconds: float = Field(
        14400,
        ge=60,
        description="Seconds between reminders in the thread of an alert that keeps firing "
        "(4 h, as Alertmanager's repeat_interval).",
    )
    resolve_hysteresis_ratio: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="A memory alert resolves only when working set / limit falls this far "
        "below the warning ratio (default: below 75 %), so it does not flap on the line.",
    )
    stale_after_seconds: float = Field(
        3600,
        ge=60,
        description="Seconds without data after which a firing alert is closed as stale "
        "(pod gone or metrics missing), said as such. Missing data never resolves.",
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> ThresholdFields:
        if self.critical_ratio < self.warning_ratio:
            raise ValueError("critical_ratio must be at or above warning_ratio")
        return self
