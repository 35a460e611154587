"""Prometheus as real setups serve it: over TLS with a private CA, asking for a client
certificate, or behind a proxy that checks a rotating bearer token. Real Prometheus binaries,
real TLS (a CA made for the test), podmem's own settings and HTTP session."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.cli import EXIT_INPUT, EXIT_SOURCE, main
from bot.errors import ConfigError, SourceError
from bot.promql import CLUSTER_WIDE
from bot.scenarios import ClusterSpec
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import PrometheusServer
from tests.tls_files import Authority, authority

SPEC = ClusterSpec(pods=(d.STEADY,), start=d.START, duration=timedelta(minutes=20))
AT = d.START + timedelta(minutes=15)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    """Another CA: its certificates are well made and trusted by nobody here."""
    return authority(tmp_path_factory.mktemp("stranger"), "stranger")


def _tls_prometheus(ca: Authority, workdir: Path, *, mtls: bool) -> PrometheusServer:
    web = f"tls_server_config:\n  cert_file: {ca.server.cert}\n  key_file: {ca.server.key}\n"
    client: dict[str, Any] = {"verify": str(ca.ca)}
    if mtls:
        web += f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca.ca}\n"
        client["cert"] = (str(ca.client.cert), str(ca.client.key))
    return PrometheusServer(SPEC, workdir, web_config=web, client=client)


@pytest.fixture(scope="module")
def tls(ca: Authority, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = _tls_prometheus(ca, tmp_path_factory.mktemp("tls"), mtls=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls(ca: Authority, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = _tls_prometheus(ca, tmp_path_factory.mktemp("mtls"), mtls=True)
    yield server
    server.stop()


def pods(**settings: Any) -> list[str]:
    source = PrometheusSource(load_settings(**settings))
    try:
        return [pod.pod for pod in source.pods(AT, CLUSTER_WIDE)]
    finally:
        source.close()


def refusal(**settings: Any) -> str:
    with pytest.raises(SourceError) as caught:
        pods(**settings)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- server verification -------------------------------------------------------------------


def test_the_ca_file_verifies_the_server(tls: PrometheusServer, ca: Authority) -> None:
    assert pods(prometheus_url=tls.url, prometheus_ca_file=str(ca.ca)) == [d.STEADY.name]


def test_without_the_ca_the_error_says_which_setting(tls: PrometheusServer) -> None:
    message = refusal(prometheus_url=tls.url)
    assert message == (
        f"cannot verify Prometheus at {tls.url}: certificate verify failed: unable to get "
        "local issuer certificate; podmem trusts the system's CAs (set prometheus_ca_file "
        "to the CA bundle that signed it)"
    )


def test_the_wrong_ca_is_named(tls: PrometheusServer, stranger: Authority) -> None:
    message = refusal(prometheus_url=tls.url, prometheus_ca_file=str(stranger.ca))
    assert message.startswith(f"cannot verify Prometheus at {tls.url}: certificate verify")
    assert f"the CAs in prometheus_ca_file {stranger.ca}" in message


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_off_still_reaches_it(tls: PrometheusServer) -> None:
    assert pods(prometheus_url=tls.url, prometheus_tls_verify=False) == [d.STEADY.name]


# --- mutual TLS ----------------------------------------------------------------------------


def test_client_certificate_passes_mtls(mtls: PrometheusServer, ca: Authority) -> None:
    found = pods(
        prometheus_url=mtls.url,
        prometheus_ca_file=str(ca.ca),
        prometheus_client_cert_file=str(ca.client.cert),
        prometheus_client_key_file=str(ca.client.key),
    )
    assert found == [d.STEADY.name]


def test_without_a_client_certificate_it_says_so(mtls: PrometheusServer, ca: Authority) -> None:
    message = refusal(prometheus_url=mtls.url, prometheus_ca_file=str(ca.ca))
    # Go's TLS says "bad certificate"; a bare hang-up is possible too, and says the same.
    assert message.startswith(f"Prometheus at {mtls.url} ")
    assert message.endswith(": set prometheus_client_cert_file and prometheus_client_key_file")


def test_https_to_a_plain_http_port_says_so(prometheus_for: PrometheusFactory) -> None:
    url = prometheus_for(d.MAIN).url.replace("http://", "https://")
    message = refusal(prometheus_url=url)
    assert message.startswith(f"TLS with {url} failed (wrong version number)")
    assert message.endswith("is it served over https, or plain http?")


def test_a_certificate_it_does_not_trust_is_named(
    mtls: PrometheusServer, ca: Authority, stranger: Authority
) -> None:
    message = refusal(
        prometheus_url=mtls.url,
        prometheus_ca_file=str(ca.ca),
        prometheus_client_cert_file=str(stranger.client.cert),
        prometheus_client_key_file=str(stranger.client.key),
    )
    # Refused with an alert, or (TLS 1.3, as often) a bare hang-up: both name the file.
    assert message.startswith(f"Prometheus at {mtls.url} ")
    assert f"client certificate in prometheus_client_cert_file {stranger.client.cert}" in message
    assert message.endswith("is it signed by a CA Prometheus trusts, and made for client auth?")


def test_the_cli_check_goes_through_the_same_session(
    mtls: PrometheusServer,
    ca: Authority,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PODMEM_PROMETHEUS_CA_FILE", str(ca.ca))
    argv = ["check", "--once", "--dry-run", "--prometheus-url", mtls.url, "--at", f"{AT:%FT%TZ}"]
    assert main(argv) == EXIT_SOURCE
    _, err = capsys.readouterr()
    # TLS 1.3: the refusal is an alert or, as often, a bare hang-up; both name the fix.
    assert "client certificate" in err and "prometheus_client_cert_file" in err
    assert "Traceback" not in err
    monkeypatch.setenv("PODMEM_PROMETHEUS_CLIENT_CERT_FILE", str(ca.client.cert))
    monkeypatch.setenv("PODMEM_PROMETHEUS_CLIENT_KEY_FILE", str(ca.client.key))
    assert main(argv) == 0


# --- settings: one clear line per mistake ---------------------------------------------------


def config_error(**settings: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**settings)
    message = str(caught.value)
    assert "\n" not in message
    return message


HTTPS = "https://prometheus.example:9091"


def test_missing_files_are_named(tmp_path: Path) -> None:
    gone = tmp_path / "gone.pem"
    for key in (
        "prometheus_ca_file",
        "prometheus_client_cert_file",
        "prometheus_client_key_file",
        "prometheus_bearer_token_file",
    ):
        message = config_error(prometheus_url=HTTPS, **{key: str(gone)})
        env = f"PODMEM_{key.upper()}"
        assert message == (
            f"config error: {key} ({env}): cannot read {gone}: No such file or directory"
        )


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    # A directory where a file belongs (a Secret mounted one level off): unreadable as root too.
    message = config_error(prometheus_bearer_token_file=str(tmp_path))
    assert f"cannot read {tmp_path}: Is a directory" in message


def test_mistakes_each_say_what_to_fix(ca: Authority, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    blank, text = tmp_path / "blank", tmp_path / "text.pem"
    blank.write_text("\n\n")
    text.write_text("not a certificate\n")
    cert, key = str(ca.client.cert), str(ca.client.key)
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"prometheus_client_cert_file": cert},
            "prometheus_client_cert_file is set without prometheus_client_key_file",
        ),
        (
            {"prometheus_client_key_file": key},
            "prometheus_client_key_file is set without prometheus_client_cert_file",
        ),
        (
            {"prometheus_client_cert_file": cert, "prometheus_client_key_file": ca.server.key},
            "are not a certificate and its unencrypted key (key values mismatch)",
        ),
        ({"prometheus_ca_file": str(text)}, f"{text} is not a PEM CA bundle"),
        (
            {"prometheus_ca_file": str(ca.ca), "prometheus_url": "http://prometheus:9090"},
            "prometheus_ca_file is set but prometheus_url is not https://",
        ),
        (
            {"prometheus_ca_file": str(ca.ca), "prometheus_tls_verify": False},
            "prometheus_ca_file is set but prometheus_tls_verify is false",
        ),
        (
            {"prometheus_bearer_token_file": str(token), "prometheus_bearer_token": "t"},
            "prometheus_bearer_token and prometheus_bearer_token_file are both set",
        ),
        (
            {"prometheus_bearer_token_file": str(token), "prometheus_username": "sre"},
            "prometheus_bearer_token_file and prometheus_username are both set",
        ),
        ({"prometheus_bearer_token_file": str(blank)}, f"{blank} does not hold a token"),
    ]
    for given, expected in cases:
        message = config_error(**{"prometheus_url": HTTPS, **given})
        assert expected in message, given
        assert "s3cret-token" not in message


# --- a bearer token file, rotated while the bot runs ----------------------------------------


class _TokenProxy(BaseHTTPRequestHandler):
    """kube-rbac-proxy's part in front of thanos-querier: a request with an accepted bearer
    token goes on to the real Prometheus, any other gets 401."""

    server: Any

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        self.server.seen.append(token)
        if token not in self.server.accepted:
            self._answer(401, b"Unauthorized\n", "text/plain")
            return
        upstream = requests.post(
            self.server.upstream + self.path,
            data=body,
            headers={"Content-Type": self.headers.get("Content-Type", "")},
            timeout=10,
        )
        self._answer(upstream.status_code, upstream.content, "application/json")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(prometheus_for: PrometheusFactory) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenProxy)
    server.upstream = prometheus_for(d.MAIN).url  # type: ignore[attr-defined]
    server.seen, server.accepted = [], set()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


class ProjectedVolume:
    """A token as the kubelet mounts it: `token` -> `..data/token`, and a rotation writes a
    new timestamped directory and swaps the `..data` symlink in one rename."""

    def __init__(self, root: Path) -> None:
        self.root, self.generation = root, 0
        root.mkdir()
        (root / "token").symlink_to("..data/token")

    @property
    def token(self) -> Path:
        return self.root / "token"

    def rotate(self, token: str) -> None:
        self.generation += 1
        fresh = self.root / f"..2026_12_02_00_00_{self.generation:02d}"
        fresh.mkdir()
        (fresh / "token").write_text(token)
        (self.root / "..data_tmp").symlink_to(fresh.name)
        os.replace(self.root / "..data_tmp", self.root / "..data")


def test_a_rotated_token_file_is_used_at_once(
    proxy: ThreadingHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    volume = ProjectedVolume(tmp_path / "serviceaccount")
    volume.rotate("token-one")
    proxy.accepted = {"token-one"}  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    source = PrometheusSource(
        load_settings(prometheus_url=url, prometheus_bearer_token_file=str(volume.token))
    )
    at = d.minutes(d.MAIN, 130)
    assert source.pods(at, CLUSTER_WIDE)  # the real Prometheus answered through the proxy
    # The kubelet rotates it, and the old token is revoked: the same source, no restart.
    volume.rotate("token-two")
    proxy.accepted = {"token-two"}  # type: ignore[attr-defined]
    assert source.pods(at, CLUSTER_WIDE)
    # A rotator that rewrites in place, same length (a cache keyed on size and mtime misses it).
    (tmp_path / "serviceaccount" / "..data" / "token").write_text("token-3rd\n")
    proxy.accepted = {"token-3rd"}  # type: ignore[attr-defined]
    assert source.pods(at, CLUSTER_WIDE)
    # Caught mid-rewrite, empty: the last token is sent rather than none.
    (tmp_path / "serviceaccount" / "..data" / "token").write_text("")
    with caplog.at_level(logging.WARNING):
        assert source.pods(at, CLUSTER_WIDE)
        assert source.pods(at, CLUSTER_WIDE)
    (warning,) = [r.getMessage() for r in caplog.records if "token_file" in r.getMessage()]
    assert "sending the token last read from it" in warning
    assert {"token-one", "token-two", "token-3rd"} <= set(proxy.seen)  # type: ignore[attr-defined]
    assert "" not in proxy.seen  # type: ignore[attr-defined]
    # Revoked with no new token: refused, said in one line that names the setting, not the token.
    proxy.accepted = {"a-token-podmem-never-saw"}  # type: ignore[attr-defined]
    with pytest.raises(SourceError) as caught:
        source.pods(at, CLUSTER_WIDE)
    message = str(caught.value)
    assert message == (
        f"Prometheus at {url} refused the request (HTTP 401: Unauthorized): check "
        "prometheus_bearer_token(_file), prometheus_username/password or prometheus_headers"
    )
    assert not any("token-3rd" in r.getMessage() for r in caplog.records)
    source.close()


def test_a_bad_token_file_stops_the_cli_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "podmem.yaml"
    config.write_text(f"prometheus_bearer_token_file: {tmp_path / 'nope'}\n")
    assert main(["report", "api", "--config", str(config)]) == EXIT_INPUT
    _, err = capsys.readouterr()
    assert err.strip().count("\n") == 0
    assert "prometheus_bearer_token_file (PODMEM_PROMETHEUS_BEARER_TOKEN_FILE): cannot read" in err
