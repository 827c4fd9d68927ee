"""The bench's range for a ratio: what a reader of bench/RESULTS.rst leans on to
tell a margin from this run's noise."""

from __future__ import annotations

import random
import statistics

from bench import timing


def rounds_of(count, per_round, slow_rounds=(), seed=1):
    """FST ~2x ours, per-flow noise, and some rounds where the machine is slow for both."""
    pick = random.Random(seed)
    ours, fst = [], []
    for r in range(count):
        slow = 1.5 if r in slow_rounds else 1.0
        ours += [slow * (10 + pick.random()) for _ in range(per_round)]
        fst += [slow * (20 + 2 * pick.random()) for _ in range(per_round)]
    return fst, ours


def test_the_range_holds_the_ratio_and_narrows_with_more_rounds():
    widths = []
    for count in (6, 48):
        fst, ours = rounds_of(count, 8, slow_rounds={1, 3})
        low, high = timing.ratio_interval(fst, ours, 8)
        assert low <= statistics.median(fst) / statistics.median(ours) <= high
        assert 1.8 < low < high < 2.3
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_rounds_are_drawn_whole_for_both_sides():
    """A slow round slows both: drawn together it barely moves the ratio (drawn
    apart, the samples of ours and FST would mix fast and slow moments)."""
    fst, ours = rounds_of(10, 8, slow_rounds=set(range(5)))
    low, high = timing.ratio_interval(fst, ours, 8)
    assert high - low < 0.15
    assert timing.ratio_interval(fst, ours, 8) == (low, high)  # the same samples, the same range


def test_too_few_rounds_give_no_range():
    low, high = timing.ratio_interval([1.0] * 8, [1.0] * 8, 8)
    assert low != low and high != high  # NaN: one round says nothing of the others
