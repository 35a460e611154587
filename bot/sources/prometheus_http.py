"""How podmem reaches the PromQL API: the one HTTP session every query goes through.

TLS (a private CA, a client certificate), tenant headers and credentials (basic, a bearer
token, a bearer token file) are set here once; checks, reports, digests and charts all query
through `PrometheusSource`, which is built on this session.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from urllib.parse import quote_plus

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from bot.settings import Settings
from bot.settings.prometheus import read_token

log = logging.getLogger(__name__)


# application/x-www-form-urlencoded as urllib's urlencode writes it (quote_plus): these
# characters as they are, a space as "+", every other byte as %XX.
_FORM_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_ESCAPES = {
    chr(code): "+" if code == 0x20 else f"%{code:02X}"
    for code in range(128)
    if chr(code) not in _FORM_SAFE
}
# "%" is replaced first and "+" before " ": the replacements bring in both.
_FORM_ORDER = {"%": 0, "+": 1, " ": 3}


def form_body(form: dict[str, str]) -> bytes:
    """The form, encoded exactly as `urlencode(form)` encodes it, in half the time. A check's
    detail query is ~600 KB of PromQL (400 pods' names in each of ~40 selectors), and
    urlencode escapes it a character at a time in Python (24 ms a query); here each of the
    ~20 distinct characters to escape is replaced throughout at C speed (12 ms)."""
    return "&".join(
        f"{quote_plus(name)}={_form_value(value)}" for name, value in form.items()
    ).encode("ascii")


def _form_value(value: str) -> str:
    if not value.isascii():  # UTF-8 bytes to escape: rare in PromQL, done the usual way
        return quote_plus(value)
    for char in sorted(set(value) - _FORM_SAFE, key=lambda c: _FORM_ORDER.get(c, 2)):
        value = value.replace(char, _FORM_ESCAPES[char])
    return value


def prometheus_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    session.headers.update(settings.prometheus_headers)
    if settings.prometheus_ca_file is not None:
        session.verify = str(settings.prometheus_ca_file)
    else:
        session.verify = settings.prometheus_tls_verify
    cert, key = settings.prometheus_client_cert_file, settings.prometheus_client_key_file
    if cert is not None and key is not None:
        session.cert = (str(cert), str(key))
    if settings.prometheus_bearer_token_file is not None:
        session.auth = BearerTokenFile(settings.prometheus_bearer_token_file)
    elif settings.prometheus_bearer_token is not None:
        session.auth = BearerToken(settings.prometheus_bearer_token.get_secret_value())
    elif settings.prometheus_username is not None:
        password = settings.prometheus_password
        session.auth = HTTPBasicAuth(
            settings.prometheus_username, password.get_secret_value() if password else ""
        )
    return session


class BearerToken(AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerToken(...)"


class BearerTokenFile(AuthBase):
    """The token in a file, read on every request.

    Projected service-account tokens are rotated by the kubelet (an atomic swap of the
    volume's ..data symlink) and other rotators rewrite in place. Reading the file each time
    costs microseconds beside a network round trip and is what Prometheus does with its own
    `credentials_file`. A cache keyed on mtime and size would miss a same-size rewrite within
    the file system's timestamp granularity; a re-read only on 401 would keep sending a token
    the rotator already replaced, and spend a refused request per rotation finding out.

    A read that finds nothing (the file briefly missing or empty mid-rewrite) keeps the last
    token rather than sending none; it is said once in the log, without the token.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._failing = False
        # Settings checked it holds a token; one gone since start is said at the first query.
        self._token = read_token(path) or ""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        read = read_token(self.path)
        with self._lock:
            if read is not None:
                if self._failing:
                    log.info("prometheus_bearer_token_file %s is readable again", self.path)
                self._token, self._failing = read, False
            elif not self._failing:
                self._failing = True
                log.warning(
                    "prometheus_bearer_token_file %s is missing, unreadable or empty: "
                    "sending the token last read from it",
                    self.path,
                )
            return self._token

    def __repr__(self) -> str:
        return f"BearerTokenFile({self.path})"


# OpenSSL's words inside requests' nested message: "[SSL: CODE] reason (_ssl.c:1006)".
_SSL_REASON = re.compile(r"\[SSL: ([A-Z0-9_]+)\] ([^(]*?)\s*\(_ssl")
# Alerts a TLS server sends when it wants, or does not accept, a client certificate.
_CLIENT_CERT_ALERTS = ("BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "UNKNOWN_CA", "ACCESS_DENIED")
_EOF = "EOF occurred in violation of protocol"


def tls_problem(url: str, detail: str, settings: Settings) -> str:
    """A TLS failure as one line that says which setting to look at."""
    found = _SSL_REASON.search(detail)
    code, reason = (found.group(1), found.group(2)) if found else ("", "")
    if code == "CERTIFICATE_VERIFY_FAILED":
        trusted = (
            f"the CAs in prometheus_ca_file {settings.prometheus_ca_file}"
            if settings.prometheus_ca_file is not None
            else "the system's CAs (set prometheus_ca_file to the CA bundle that signed it)"
        )
        return f"cannot verify Prometheus at {url}: {reason}; podmem trusts {trusted}"
    cert = settings.prometheus_client_cert_file
    # With TLS 1.3 the server judges the client certificate after the client thinks the
    # handshake done: its refusal arrives as an alert or, as often, as a bare hang-up.
    if any(code.endswith(alert) for alert in _CLIENT_CERT_ALERTS):
        said = re.sub(r"^(sslv3|tlsv1|tlsv13) ", "", reason)
        if cert is None:
            return (
                f"Prometheus at {url} wants a client certificate ({said}): set "
                "prometheus_client_cert_file and prometheus_client_key_file"
            )
        return (
            f"Prometheus at {url} refused the client certificate in "
            f"prometheus_client_cert_file {cert} ({said}): is it signed by a CA Prometheus "
            "trusts, and made for client auth?"
        )
    if _EOF in detail:
        if cert is None:
            return (
                f"Prometheus at {url} hung up during TLS (it may want a client certificate): "
                "set prometheus_client_cert_file and prometheus_client_key_file"
            )
        return (
            f"Prometheus at {url} hung up during TLS: if it asks for mTLS, it refused the "
            f"client certificate in prometheus_client_cert_file {cert}: is it signed by a CA "
            "Prometheus trusts, and made for client auth?"
        )
    if code == "WRONG_VERSION_NUMBER":
        return f"TLS with {url} failed ({reason}): is it served over https, or plain http?"
    return f"TLS with Prometheus at {url} failed ({reason or 'no reason given'})"
