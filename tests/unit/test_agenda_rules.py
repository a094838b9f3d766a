"""Where the reviewers of one case disagree (board/board_meetings/rules.py), from a table."""

from __future__ import annotations

import pytest

from board.board_meetings.rules import VerdictFacts, disagreeing_dimensions

CONCUR = VerdictFacts("concur")
MINOR = VerdictFacts("differ", "minor", {"text": "Add ovarian suppression."})
MAJOR_T3 = VerdictFacts("differ", "major", {"t": "cT3", "n": "cN1"})
MAJOR_T3_AGAIN = VerdictFacts("differ", "major", {"n": "cN1", "t": "cT3"})
MAJOR_T4 = VerdictFacts("differ", "major", {"t": "cT4b"})


def _all(facts: VerdictFacts | None) -> dict[str, VerdictFacts | None]:
    return {"diagnosis": facts, "stage": facts, "plan": facts}


@pytest.mark.parametrize(
    ("reviews", "expected"),
    [
        ([], set()),  # no reviews
        ([_all(CONCUR)], set()),  # one reviewer cannot disagree
        ([_all(CONCUR), _all(CONCUR), _all(CONCUR)], set()),  # all concur
        ([{"stage": CONCUR}, {"stage": MAJOR_T3}], {"stage"}),  # concur vs differ
        ([{"plan": MINOR}, {"plan": VerdictFacts("differ", "major", MINOR.alternative)}], {"plan"}),
        ([{"stage": MAJOR_T3}, {"stage": MAJOR_T3_AGAIN}], set()),  # same alternative, any order
        ([{"stage": MAJOR_T3}, {"stage": MAJOR_T4}], {"stage"}),  # different alternatives
        # A concur's leftover severity or alternative does not matter.
        ([{"diagnosis": CONCUR}, {"diagnosis": VerdictFacts("concur", "minor")}], set()),
        # A reviewer without a verdict on a dimension takes no position there.
        ([{"diagnosis": CONCUR, "stage": None}, {"diagnosis": CONCUR, "stage": MAJOR_T3}], set()),
        (
            [
                {"diagnosis": CONCUR, "stage": MAJOR_T3, "plan": CONCUR},
                {"diagnosis": MINOR, "stage": CONCUR, "plan": CONCUR},
                {"diagnosis": CONCUR, "stage": CONCUR, "plan": CONCUR},
            ],
            {"diagnosis", "stage"},
        ),
    ],
)
def test_the_agenda_highlights_exactly_the_dimensions_where_reviewers_take_different_positions(
    reviews, expected
):
    assert disagreeing_dimensions(reviews) == frozenset(expected)
