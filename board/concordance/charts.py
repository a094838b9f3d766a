"""Geometry of the analytics charts, drawn as inline SVG by templates/concordance/.

Pure: numbers in, positions out. People would rather look than read, so every
figure is drawn; every drawing also carries its numbers as text beside it and in
its <title>, for screen readers and for anyone who would rather read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from board.concordance.stats import Estimate

LEVEL_COLOUR = {"concur": "#1f7a4d", "minor": "#c77700", "major": "#b3261e"}


@dataclass(frozen=True)
class Segment:
    level: str
    x: float
    width: float
    share: Estimate


def scale(value: float, low: float, high: float, width: float) -> float:
    """Where value sits on an axis from low (0 px) to high (width px), kept on the axis."""
    if high <= low:
        raise ValueError("the axis must run from a smaller to a larger value")
    return round(max(0.0, min(width, (value - low) / (high - low) * width)), 2)


def stacked(items: Iterable[tuple[str, Estimate]], width: float) -> list[Segment]:
    """One bar split by share: segments laid end to end, each as wide as its share."""
    segments = []
    x = 0.0
    for level, share in items:
        w = round((share.value or 0.0) * width, 2)
        segments.append(Segment(level, round(x, 2), w, share))
        x += w
    return segments


def bar_width(count: int, largest: int, width: float) -> float:
    """A bar of a bar list, the largest count filling the width."""
    return round(width * count / largest, 2) if largest > 0 else 0.0
