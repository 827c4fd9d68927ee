"""Alternating measurement: A B C A B C ..., so drift and noise hit every subject alike."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Samples:
    """Seconds per operation, one sample per round (pages) or per flow (sign-ins)."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """Interquartile range over the median: how noisy the samples were."""
        if len(self.values) < 4:
            return (max(self.values) - min(self.values)) / self.median
        q1, _q2, q3 = statistics.quantiles(self.values, n=4)
        return (q3 - q1) / self.median


def alternate(
    blocks: dict[str, Callable[[], list[float]]],
    rounds: int,
    deadline: float,
    log: Callable[[str], None],
) -> dict[str, Samples]:
    """Run each block once per round, in the same order every round.

    A block returns its samples (seconds per operation). Rounds stop early,
    never before the second, once ``deadline`` (a perf_counter time) passes.
    """
    results = {name: Samples() for name in blocks}
    for number in range(rounds):
        for name, block in blocks.items():
            gc.collect()
            results[name].values.extend(block())
        if number >= 1 and time.perf_counter() > deadline:
            log(f"  time budget reached after {number + 1} of {rounds} rounds")
            break
    return results


def per_op(count: int, job: Callable[[int], None]) -> Callable[[], list[float]]:
    """A block running ``job(count)`` that yields one sample: seconds per operation."""

    def block() -> list[float]:
        started = time.perf_counter()
        job(count)
        return [(time.perf_counter() - started) / count]

    return block


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def ratio_interval(
    num: list[float], den: list[float], per_round: int, draws: int = 2000, level: float = 0.9
) -> tuple[float, float]:
    """How far ``median(num) / median(den)`` could move with other rounds: the
    central ``level`` of that ratio over ``draws`` sets of rounds drawn with
    replacement (a block bootstrap). Both sides are drawn from the same rounds, so
    a slow moment of the machine weighs on both, as it did when measured.
    ``per_round``: the samples each side took per round (in order)."""
    rounds = min(len(num), len(den)) // per_round
    if rounds < 2:
        return float("nan"), float("nan")
    pick = random.Random(0)  # the same interval for the same samples
    ratios = []
    for _ in range(draws):
        chosen = [pick.randrange(rounds) for _ in range(rounds)]
        a = [x for r in chosen for x in num[r * per_round : (r + 1) * per_round]]
        b = [x for r in chosen for x in den[r * per_round : (r + 1) * per_round]]
        ratios.append(ratio(statistics.median(a), statistics.median(b)))
    ratios.sort()
    cut = round((1 - level) / 2 * draws)  # as many draws left out below as above
    return ratios[cut], ratios[draws - 1 - cut]
