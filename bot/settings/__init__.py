"""One settings object for the whole bot: defaults < YAML file < `PODMEM_*` env < CLI flags.

Every field says its unit and why its default is what it is, because these are the knobs an
SRE turns at 3 a.m. and the README's configuration reference is generated from them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.errors import ConfigError
from bot.settings.kubernetes import KubernetesFields
from bot.settings.prometheus import PrometheusFields
from bot.settings.runtime import RuntimeFields
from bot.settings.slack import Route, SlackFields
from bot.settings.thresholds import ThresholdFields

__all__ = ["ConfigError", "Route", "Settings", "env_name", "load_settings"]


class Settings(
    BaseSettings, RuntimeFields, SlackFields, ThresholdFields, KubernetesFields, PrometheusFields
):
    model_config = SettingsConfigDict(
        env_prefix="PODMEM_",
        extra="forbid",
        frozen=True,
        validate_default=True,
        populate_by_name=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier wins: CLI flags (init) over env over the YAML file.
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def env_name(field: str) -> str:
    """The environment variable of a key: PODMEM_<KEY>, unless the key has its own name
    (SLACK_BOT_TOKEN, as every Slack tool calls it)."""
    alias = (
        Settings.model_fields[field].validation_alias if field in Settings.model_fields else None
    )
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"PODMEM_{field.upper()}"


def load_settings(config_file: Path | None = None, **cli_overrides: Any) -> Settings:
    """Build the settings, turning every failure into one ConfigError that names the key."""
    if config_file is not None:
        _check_yaml_file(config_file)
    configured: type[Settings] = type(
        "ConfiguredSettings",
        (Settings,),
        {"model_config": {**Settings.model_config, "yaml_file": config_file}},
    )
    overrides = {key: value for key, value in cli_overrides.items() if value is not None}
    try:
        return configured(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    except ValueError as error:
        # pydantic-settings could not decode a list or map given in the environment. Its
        # SettingsError moved modules across versions; it is a ValueError in all of them.
        raise ConfigError(_describe_env(str(error))) from None


def _describe_env(message: str) -> str:
    found = re.search(r'field "(\w+)"', message)
    if found is None:
        return f"config error: {message}"
    name = env_name(found.group(1))
    value = next((v for k, v in os.environ.items() if k.upper() == name), "")
    try:
        json.loads(value)
        problem = "a value of the wrong shape"
    except ValueError as error:
        problem = f"not valid JSON ({error})"
    return f"config error: {name} is {problem}: lists and maps in the environment are JSON"


def _check_yaml_file(path: Path) -> None:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"config file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(error)}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must be a mapping of key: value")


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's message spans several lines with a drawing of the spot; one line is enough."""
    problem = getattr(error, "problem", None) or "unreadable"
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "settings"
        # pydantic prefixes a validator's own words with "Value error, ": they stand alone.
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (see the configuration reference in the README)"
        field = key.split(".")[0]
        where = f"{key} ({env_name(field)})" if field in Settings.model_fields else key
        problems.append(f"{where}: {message}")
    return "config error: " + "; ".join(problems)
