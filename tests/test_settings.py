from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings


def test_defaults_are_the_documented_ones() -> None:
    s = load_settings()
    assert (s.warning_ratio, s.critical_ratio) == (0.80, 0.90)
    assert s.critical_time_to_limit_seconds == 1800
    assert s.cache_heavy_usage_ratio == 0.90
    assert s.for_duration_seconds == 300


def test_precedence_cli_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "podmem.yaml"
    config.write_text("warning_ratio: 0.6\ncritical_ratio: 0.7\nprometheus_url: http://file:9090\n")
    assert load_settings(config).warning_ratio == 0.6
    monkeypatch.setenv("PODMEM_WARNING_RATIO", "0.65")
    assert load_settings(config).warning_ratio == 0.65
    assert load_settings(config, warning_ratio=0.5).warning_ratio == 0.5
    assert (
        load_settings(config, prometheus_url="http://cli:9090/").prometheus_url == "http://cli:9090"
    )


def test_unknown_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "podmem.yaml"
    config.write_text("warnig_ratio: 0.7\n")
    with pytest.raises(ConfigError, match=r"warnig_ratio: unknown key"):
        load_settings(config)


def test_bad_value_names_key_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODMEM_CRITICAL_RATIO", "ninety")
    with pytest.raises(ConfigError, match=r"critical_ratio \(PODMEM_CRITICAL_RATIO\)"):
        load_settings()


def test_inconsistent_thresholds_are_refused() -> None:
    with pytest.raises(ConfigError, match="critical_ratio must be at or above warning_ratio"):
        load_settings(warning_ratio=0.9, critical_ratio=0.8)


@pytest.mark.parametrize(
    ("content", "message"),
    [("a: [1, 2", "not valid YAML"), ("- just\n- a list\n", "must be a mapping")],
)
def test_broken_files(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "podmem.yaml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(tmp_path / "absent.yaml")


@pytest.mark.parametrize("label", ["k8s-cluster", "1cluster", 'x"}'])
def test_cluster_label_must_be_a_label_name(label: str) -> None:
    with pytest.raises(ConfigError, match="cluster_label"):
        load_settings(cluster_label=label)


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODMEM_PROMETHEUS_BEARER_TOKEN", "s3cr3t-token")
    s = load_settings()
    assert "s3cr3t-token" not in repr(s)
    assert s.prometheus_bearer_token is not None
    assert s.prometheus_bearer_token.get_secret_value() == "s3cr3t-token"
