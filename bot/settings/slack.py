"""Where alerts go: the Slack Web API, channels and routing."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator


class Route(BaseModel):
    """Where a set of alerts goes: channels, a webhook, or both. Routes are tried in order and
    the first that matches wins, unless it says `continue`: then later routes are tried too,
    so a critical alert can reach the team's channel and the on-call's."""

    model_config = {
        "extra": "forbid",
        "frozen": True,
        "populate_by_name": True,
        # The rule _goes_somewhere checks, said to JSON Schema too (the Helm chart's schema).
        "json_schema_extra": {
            "anyOf": [
                {"required": ["channel"]},
                {"required": ["channels"], "properties": {"channels": {"minItems": 1}}},
                {"required": ["webhook_url"]},
            ]
        },
    }

    channel: str | None = Field(None, description="Channel name or ID, e.g. #team-shop.")
    channels: list[str] = Field(
        default_factory=list, description="More channels that get the same notices."
    )
    namespaces: list[str] = Field(default_factory=list, description="Namespace globs, e.g. shop-*.")
    namespace_regex: str | None = Field(None, description="A regex the namespace must match.")
    pod_labels: dict[str, str] = Field(
        default_factory=dict, description="Pod labels that must all match (from KSM)."
    )
    clusters: list[str] = Field(
        default_factory=list,
        description="Cluster globs (values of cluster_label); empty: every cluster.",
    )
    severities: list[Literal["warning", "critical"]] = Field(
        default_factory=list,
        description="Only alerts of these severities (OOM kills and evictions are critical, "
        "a worker process killed is a warning). A route with severities gets no digest.",
    )
    continue_matching: bool = Field(
        False,
        alias="continue",
        description="Also try the routes after this one (fan-out), like Alertmanager's.",
    )
    webhook_url: str | None = Field(
        None,
        description="Also send this route's notices, as signed JSON, to this URL (a pager, "
        "PagerDuty through a relay, an in-house bot). Needs webhook_secret.",
    )

    @property
    def all_channels(self) -> list[str]:
        return list(dict.fromkeys([*([self.channel] if self.channel else []), *self.channels]))

    @model_validator(mode="after")
    def _goes_somewhere(self) -> Route:
        if not self.channel and not self.channels and not self.webhook_url:
            raise ValueError("a route needs a channel, channels or a webhook_url")
        return self

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("namespace_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a valid regex: {error}") from None
        return value


class AccessRule(BaseModel):
    """Who may ask `/podmem` about which namespaces. Empty lists match everyone/everywhere."""

    model_config = {"extra": "forbid", "frozen": True}

    namespaces: list[str] = Field(description="Namespace globs this rule allows, e.g. shop-*.")
    channels: list[str] = Field(
        default_factory=list,
        description="Channel IDs, or #names resolved to IDs once at start (public channels).",
    )
    users: list[str] = Field(default_factory=list, description="User IDs (U0123...).")


class SlackFields(BaseModel):
    slack_mode: Literal["socket", "http"] = Field(
        "socket",
        description="`socket`: Socket Mode, no public endpoint (needs SLACK_APP_TOKEN); "
        "`http`: Slack posts to /slack/events on http_port (needs SLACK_SIGNING_SECRET).",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
        description="App-level token (xapp-...) for Socket Mode. Env: SLACK_APP_TOKEN.",
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
        description="Signing secret for HTTP mode. Env: SLACK_SIGNING_SECRET.",
    )
    access_rules: list[AccessRule] = Field(
        default_factory=list,
        description="Optional: which channels/users may query which namespaces with /podmem "
        "and its buttons ([{namespaces, channels, users}]); channels match by ID. Empty: "
        "everyone, everything.",
    )
    slash_rate_per_minute: int = Field(
        10, ge=1, description="/podmem commands one user may run per minute."
    )
    slack_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"),
        description="Bot token (xoxb-...). Env: SLACK_BOT_TOKEN. Never logged.",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        description="Slack Web API base URL: change for GovSlack (https://slack-gov.com/api/) "
        "or an egress proxy.",
    )
    slack_channel: str | None = Field(
        None, description="Default channel for alerts no route claims, and for degraded notices."
    )
    routes: list[Route] = Field(
        default_factory=list,
        description="Routing rules, first match wins unless it says continue: [{channel, "
        "channels, namespaces: [globs], namespace_regex, pod_labels: {k: v}, clusters: [globs], "
        "severities: [warning|critical], continue, webhook_url}]. As env: JSON.",
    )
    slack_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of each Slack Web API call, seconds."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC-SHA256 signature on every webhook notice "
        "(X-Podmem-Signature). Required by routes with a webhook_url. Never logged.",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of each webhook POST, seconds."
    )
    slack_channel_interval_seconds: float = Field(
        1.0,
        ge=0,
        description="Seconds between messages to one channel: Slack allows about one per "
        "second per channel before it answers 429.",
    )

    grafana_url_template: str | None = Field(
        None,
        description="Link to a dashboard from every alert, with {cluster}, {namespace}, {pod}, "
        "{container} filled in. For podmem's own dashboard (deploy/grafana/podmem.json): "
        "https://grafana.example.com/d/podmem-container/podmem?var-cluster={cluster}"
        "&var-namespace={namespace}&var-pod={pod}&var-container={container}",
    )
    runbook_url: str | None = Field(None, description="Link to your OOM runbook in every alert.")

    @field_validator("grafana_url_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            unknown = set(re.findall(r"{(\w*)}", value)) - {
                "cluster",
                "namespace",
                "pod",
                "container",
            }
            if unknown:
                raise ValueError(
                    f"unknown placeholder(s) {sorted(unknown)}: "
                    "use cluster, namespace, pod, container"
                )
        return value

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> SlackFields:
        hooked = [i for i, route in enumerate(self.routes) if route.webhook_url]
        if hooked and self.webhook_secret is None:
            raise ValueError(
                f"routes[{hooked[0]}] has a webhook_url but webhook_secret is not set "
                "(PODMEM_WEBHOOK_SECRET): podmem signs every webhook notice"
            )
        return self

    @field_validator("slack_api_url")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        if not re.match(r"https?://", value):
            raise ValueError("must be an http:// or https:// URL")
        return value if value.endswith("/") else value + "/"
