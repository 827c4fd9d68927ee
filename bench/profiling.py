"""Where our time goes: cProfile over the protected page and the email-code sign-in.

The profiler slows everything down, so only shares (and call counts per
operation) are reported, never absolute times.
"""

from __future__ import annotations

import cProfile
import pstats
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .report import Table

OURS_DIR = str(Path(__file__).resolve().parent.parent / "flask_passwordless")


@dataclass
class Profile:
    name: str
    operations: int
    stats: pstats.Stats

    @property
    def total(self) -> float:
        return sum(row[2] for row in self.stats.stats.values())  # type: ignore[attr-defined]


def run(name: str, operations: int, job: Callable[[], None]) -> Profile:
    profiler = cProfile.Profile()
    profiler.enable()
    job()
    profiler.disable()
    return Profile(name, operations, pstats.Stats(profiler))


def package_of(filename: str) -> str:
    if filename.startswith(OURS_DIR):
        return "flask_passwordless"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    if "/templates/" in filename:
        return "templates (compiled Jinja)"
    return "stdlib" if "/lib/python" in filename else Path(filename).parent.name


def by_package(profile: Profile, top: int = 10) -> Table:
    shares: Counter[str] = Counter()
    for (filename, _line, _func), row in profile.stats.stats.items():  # type: ignore[attr-defined]
        shares[package_of(filename)] += row[2]
    table = Table(
        f"Profile of ours, {profile.name}: own time by package",
        ["package", "share of time"],
    )
    total = profile.total or 1.0
    for package, spent in shares.most_common(top):
        table.add(package, f"{spent / total:.1%}")
    return table


def ours_functions(profile: Profile, top: int = 12) -> Table:
    """Our functions by cumulative time (including what they call), with calls per operation."""
    rows = []
    for (filename, line, func), row in profile.stats.stats.items():  # type: ignore[attr-defined]
        if filename.startswith(OURS_DIR):
            calls, cumulative = row[1], row[3]
            short = filename[len(OURS_DIR) + 1 :]
            rows.append((cumulative, f"{short}:{line} {func}", calls))
    rows.sort(reverse=True)
    total = profile.total or 1.0
    table = Table(
        f"Profile of ours, {profile.name}: our functions by cumulative time",
        ["function", "share of time (incl. callees)", "calls per operation"],
    )
    for cumulative, where, calls in rows[:top]:
        table.add(where, f"{cumulative / total:.1%}", f"{calls / profile.operations:g}")
    return table


def hottest(profile: Profile, top: int = 12) -> Table:
    """Any function, by its own time."""
    rows = []
    for (filename, line, func), row in profile.stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            (row[2], f"{package_of(filename)}: {Path(filename).name}:{line} {func}", row[1])
        )
    rows.sort(reverse=True)
    total = profile.total or 1.0
    table = Table(
        f"Profile of ours, {profile.name}: hottest functions by own time",
        ["function", "share of time", "calls per operation"],
    )
    for own, where, calls in rows[:top]:
        table.add(where, f"{own / total:.1%}", f"{calls / profile.operations:g}")
    return table
