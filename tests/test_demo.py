"""`podmem demo`: offline, fast, and its page renders in a real browser."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_demo_runs_the_whole_story_and_writes_the_page(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--output-dir", str(tmp_path)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # The seed's lesson, then the real warnings, the edit, the kills, the report, the digest.
    assert "(nothing to say)" in out.split("[3/")[0]
    for expected in (
        "WARNING · SHOP/DEPLOYMENT/CHECKOUT",
        "(edits the message above ↑)",
        "CRITICAL",
        "OOMKILLED",
        "ENDED BY OOM KILL",
        "CACHE_HEAVY",
        "no OOM risk",
        "PODMEM DAILY DIGEST",
        "Over-provisioned requests",
    ):
        assert expected in out, expected
    charts = sorted(tmp_path.glob("chart-*.png"))
    assert len(charts) >= 6 and all(c.read_bytes().startswith(b"\x89PNG") for c in charts)
    page = (tmp_path / "index.html").read_text()
    assert all(c.name in page for c in charts)
    assert str(tmp_path / "index.html") in out


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_preview_renders_in_headless_chromium(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--output-dir", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,3000",
            f"--screenshot={shot}",
            (tmp_path / "index.html").as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 50_000  # a page with charts, not a blank
