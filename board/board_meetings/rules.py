"""Where the reviewers of one case disagree, dimension by dimension: what the agenda
highlights so the board spends its time there. Pure: no flask, sqlalchemy or celery."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DIMENSIONS = ("diagnosis", "stage", "plan")


@dataclass(frozen=True)
class VerdictFacts:
    """What a reviewer said on one dimension, as far as agreement goes."""

    verdict: str  # concur | differ
    severity: str | None = None  # minor | major, for a differ
    alternative: Mapping[str, Any] | None = None


def _position(facts: VerdictFacts) -> tuple[str, str | None, str | None]:
    """Two concurs agree whatever their rationale; two differs agree only when they
    carry the same severity and the same alternative (a different T is a different stage)."""
    if facts.verdict != "differ":
        return (facts.verdict, None, None)
    alternative = json.dumps(facts.alternative, sort_keys=True) if facts.alternative else None
    return (facts.verdict, facts.severity, alternative)


def disagreeing_dimensions(
    reviews: Sequence[Mapping[str, VerdictFacts | None]],
) -> frozenset[str]:
    """The dimensions on which at least two reviewers of the case took different
    positions (concur vs differ, minor vs major, or different alternatives).
    A reviewer with no verdict on a dimension takes no position there."""
    out = set()
    for dimension in DIMENSIONS:
        positions = {
            _position(facts) for review in reviews if (facts := review.get(dimension)) is not None
        }
        if len(positions) > 1:
            out.add(dimension)
    return frozenset(out)
