"""Style gates of CI: ruff (lint and format, configured in pyproject.toml) over the Python,
clang-format (.clang-format) over csrc/. Each skips when its tool is not installed (both are
in the test extra) and when the sources are not a checkout (an installed package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "csrc").is_dir()
pytestmark = pytest.mark.skipif(not CHECKOUT, reason="needs the source tree")


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe is None:
        pytest.importorskip("ruff")
        return [sys.executable, "-m", "ruff"]
    return [exe]


def test_ruff_lint():
    proc = _run(_ruff() + ["check", "--no-cache", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format():
    proc = _run(_ruff() + ["format", "--no-cache", "--check", "."])
    assert proc.returncode == 0, "run `ruff format .`:\n" + proc.stdout + proc.stderr


def test_clang_format():
    exe = shutil.which("clang-format")
    if exe is None:
        pytest.skip("clang-format is not installed (pip install clang-format)")
    sources = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*") if p.suffix in (".h", ".cpp")
    )
    assert sources
    proc = _run([exe, "--dry-run", "--Werror", *sources])
    assert proc.returncode == 0, "run `clang-format -i csrc/**/*.{h,cpp}`:\n" + proc.stderr[-4000:]
