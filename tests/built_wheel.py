"""Building the wheel from a clean copy of the checkout, and running commands.

Shared by the tests that install the package into a fresh virtualenv (the
wheel test and the Quickstart test); the ``wheel`` fixture in conftest builds
it once per run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Left out of the copy that is built: local state that is not the source.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "test-artifacts",
    "instance",
    "*.db",
)


def run(args, *, timeout: float, cwd: Path, env=None) -> subprocess.CompletedProcess:
    """Run a command to completion; fail the test with its output unless it succeeds."""
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    assert result.returncode == 0, (
        f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


def build_wheel(work: Path) -> Path:
    """Build from a clean copy of the checkout, so a stale build/ cannot leak in."""
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    dist = work / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", dist], timeout=600, cwd=source)
    (built,) = dist.glob("flask_passwordless-*.whl")
    return built


def fresh_venv(where: Path, wheel: Path) -> Path:
    """A virtualenv without system site packages, the wheel installed; its bin folder."""
    run([sys.executable, "-m", "venv", where], timeout=300, cwd=where.parent)
    run(
        [where / "bin" / "python", "-m", "pip", "install", "--quiet", wheel],
        timeout=900,
        cwd=where.parent,
    )
    return where / "bin"
