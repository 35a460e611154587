"""A throwaway certificate authority for TLS tests, made with the `openssl` CLI.

(`cryptography` is not a dependency of podmem; Debian's openssl is on every machine that runs
these tests, and .ci/run installs it where it is not.) Without it the tests skip loudly, or
fail under PODMEM_CI.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    """A CA, and certificates it signed: one for a server on 127.0.0.1, one for a client."""

    ca: Path
    server: Pair
    client: Pair


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.skip("TLS TESTS NOT RUN: `openssl` is not on PATH (apt-get install openssl)")
    return found


def _run(*args: str) -> None:
    subprocess.run([_openssl(), *args], check=True, capture_output=True)


def _signed(ca: Pair, directory: Path, name: str, extensions: str) -> Pair:
    pair = Pair(directory / f"{name}.crt", directory / f"{name}.key")
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text(extensions, encoding="utf-8")
    _run(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(pair.key), "-out", str(csr), "-subj", f"/CN=podmem test {name}",
    )  # fmt: skip
    _run(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-days", "2", "-out", str(pair.cert), "-extfile", str(ext),
    )  # fmt: skip
    return pair


def authority(directory: Path, name: str = "ca") -> Authority:
    directory.mkdir(parents=True, exist_ok=True)
    ca = Pair(directory / f"{name}.crt", directory / f"{name}.key")
    _run(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(ca.key), "-out", str(ca.cert), "-days", "2",
        "-subj", f"/CN=podmem test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    server = _signed(
        ca,
        directory,
        f"{name}-server",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature\n",
    )
    client = _signed(
        ca,
        directory,
        f"{name}-client",
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
    )
    return Authority(ca=ca.cert, server=server, client=client)
