"""The seed's figures of a set of latencies, as go-metrics computed them, and their formats."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass

SEED_LINES = ("count", "min", "max", "mean", "stddev", "median", "75%", "95%", "99%", "99.9%")


def percentile(ordered: Sequence[float], p: float) -> float:
    """go-metrics' rule (which the seed's figures came from): interpolate at p * (n + 1)."""
    size = len(ordered)
    if size == 0:
        return math.nan
    position = p * (size + 1)
    if position < 1.0:
        return ordered[0]
    if position >= size:
        return ordered[-1]
    lower = ordered[int(position) - 1]
    upper = ordered[int(position)]
    return lower + (position - math.floor(position)) * (upper - lower)


@dataclass(frozen=True)
class Stats:
    """The seed's figures of a set of latencies, in seconds."""

    count: int
    min: float
    max: float
    mean: float
    stddev: float
    median: float
    p75: float
    p95: float
    p99: float
    p999: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        ordered = sorted(samples)
        count = len(ordered)
        if count == 0:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan, nan, nan, nan)
        mean = sum(ordered) / count
        variance = sum((x - mean) ** 2 for x in ordered) / count  # population, as go-metrics
        return cls(
            count=count,
            min=ordered[0],
            max=ordered[-1],
            mean=mean,
            stddev=math.sqrt(variance),
            median=percentile(ordered, 0.5),
            p75=percentile(ordered, 0.75),
            p95=percentile(ordered, 0.95),
            p99=percentile(ordered, 0.99),
            p999=percentile(ordered, 0.999),
        )

    def seed_lines(self) -> list[str]:
        """``count: 1000``, ``min: 23ms``, ... as the seed prints them."""
        figures = astuple(self)[1:]
        return [f"count: {self.count}"] + [
            f"{name}: {ms(value)}" for name, value in zip(SEED_LINES[1:], figures, strict=True)
        ]


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    return f"{round(seconds * 1000)}ms"


def ms_precise(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.2f}ms"


def ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or not theirs or math.isnan(ours) or math.isnan(theirs):
        return "n/a"
    return f"{ours / theirs:.2f}x"
