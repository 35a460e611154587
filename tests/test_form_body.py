"""The PromQL podmem sends reaches Prometheus exactly: its form body is encoded by hand
(urlencode was a third of a check's CPU at 100 000 containers), so it must encode exactly as
urlencode does, and the real server must read back every character."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode

from bot.promql import string_literal
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from bot.sources.prometheus_http import form_body
from tests.prometheus_harness import PrometheusServer

EVERY_ASCII = "".join(chr(code) for code in range(1, 128))
TEXTS = [
    EVERY_ASCII,
    "a b+c%2B%d",  # the escapes' own characters, in the order they interfere
    'leak\\\\-00001\\\\-000053|api"}) or vector(1)',
    "naïve 日本 ü\U0001f600 %+",  # not ASCII: the usual way
    "",
]


def test_the_form_is_encoded_as_urlencode_encodes_it() -> None:
    for text in TEXTS:
        form = {"query": text, "time": "1764547200.000"}
        assert form_body(form) == urlencode(form).encode("ascii")


def _one_sample(out: TextIO) -> None:
    out.write('up{job="x"} 1 1764547200\n# EOF\n')


def test_prometheus_reads_back_every_character(tmp_path: Path) -> None:
    server = PrometheusServer(_one_sample, tmp_path)
    try:
        source = PrometheusSource(load_settings(prometheus_url=server.url, kubernetes="off"))
        at = datetime.fromtimestamp(1764547200 + 30, UTC)
        for text in TEXTS:
            # PromQL strings hold any character but NUL; Prometheus echoes this one back.
            query = f'label_replace(vector(1), "echo", {string_literal(text)}, "", "")'
            (row,) = source._instant(query, at)
            assert row["metric"].get("echo", "") == text
    finally:
        server.stop()
