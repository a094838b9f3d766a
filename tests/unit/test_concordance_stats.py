"""The concordance statistics against worked examples whose answers are published or
computed by hand, to 3 decimals; and what they say when there is nothing to compute."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from board.concordance import charts, published, stats
from board.concordance.published import PATHOLOGY_MAJOR, PLAN_MAJOR, Position, compare_with_range
from board.concordance.stats import Estimate


def r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- Proportions: the Wilson score interval -------------------------------------------


def test_six_of_fifty_has_the_hand_computed_wilson_interval():
    # p = 0.12, z^2 = 3.8415: centre (0.12 + 0.03841) / 1.07683 = 0.14711,
    # half-width 1.96 * sqrt(0.002112 + 0.000384) / 1.07683 = 0.09094.
    e = stats.proportion(6, 50)
    assert (e.value, r3(e.low), r3(e.high), e.n, e.note) == (0.12, 0.056, 0.238, 50, "")


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.278),  # the Wald interval would collapse to 0-0 here
        (10, 10, 0.722, 1.0),
        (1, 2, 0.095, 0.905),
        (2, 6, 0.097, 0.7),
        (81, 263, 0.255, 0.366),
    ],
)
def test_wilson_intervals_match_hand_computations(successes, n, low, high):
    e = stats.proportion(successes, n)
    assert (r3(e.low), r3(e.high)) == (low, high)
    assert e.low <= e.value <= e.high


def test_a_proportion_of_nothing_is_undefined_with_a_reason_not_nan():
    e = stats.proportion(0, 0)
    assert (e.value, e.low, e.high, e.n) == (None, None, None, 0)
    assert e.note and not e.defined


def test_impossible_counts_are_refused():
    for successes, n in ((3, 2), (-1, 4), (1, -1)):
        with pytest.raises(ValueError):
            stats.proportion(successes, n)


def test_shares_split_a_total_with_an_interval_each():
    found = stats.shares({"concur": 40, "minor": 6, "major": 4})
    assert {k: v.value for k, v in found.items()} == {"concur": 0.8, "minor": 0.12, "major": 0.08}
    assert (r3(found["minor"].low), r3(found["minor"].high)) == (0.056, 0.238)
    assert {v.n for v in found.values()} == {50}


# --- Cohen's kappa ------------------------------------------------------------------

# The 2x2 example of Wikipedia's "Cohen's kappa": 50 proposals, both yes 20, A yes and
# B no 5, A no and B yes 10, both no 15. po = 0.7, pe = 0.5, kappa = 0.4.
YES_NO = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}


def test_cohens_kappa_of_the_textbook_two_by_two_is_0_4():
    k = stats.cohen_kappa(YES_NO)
    assert (r3(k.value), k.observed, k.expected, k.n, k.raters) == (0.4, 0.7, 0.5, 50, 2)


def test_cohens_kappa_interval_uses_the_fleiss_cohen_everitt_variance():
    # By hand: diagonal 0.4 (1 - 1.1*0.6)^2 + 0.3 (1 - 0.9*0.6)^2 = 0.10972; off-diagonal
    # 0.36 (0.1 * 1.1^2 + 0.2 * 0.9^2) = 0.10188; minus (0.4 - 0.5*0.6)^2 = 0.01;
    # over 50 * 0.25: variance 0.016128, SE 0.1270, interval 0.4 -/+ 0.2489.
    # (statsmodels' cohens_kappa gives the same std_kappa, 0.12700.)
    k = stats.cohen_kappa(YES_NO)
    assert (r3(k.se), r3(k.low), r3(k.high)) == (0.127, 0.151, 0.649)


def test_cohens_kappa_of_a_three_category_table():
    # Cardillo's kappa.m example: [[88, 14, 18], [10, 40, 10], [2, 6, 12]], kappa 0.4915.
    rows = [[88, 14, 18], [10, 40, 10], [2, 6, 12]]
    table = {(i, j): rows[i][j] for i in range(3) for j in range(3)}
    k = stats.cohen_kappa(table)
    assert (r3(k.value), r3(k.observed), r3(k.expected)) == (0.492, 0.7, 0.41)
    # Fleiss-Cohen-Everitt SE 0.0510 (statsmodels agrees); kappa.m's 0.0549 is Cohen's
    # simpler sqrt(po(1-po) / (n (1-pe)^2)).
    assert (r3(k.se), r3(k.low), r3(k.high)) == (0.051, 0.392, 0.591)


def test_cohens_kappa_from_pairs_is_the_same_as_from_the_table():
    pairs = [(a, b) for (a, b), count in YES_NO.items() for _ in range(count)]
    assert stats.cohen_kappa_from_pairs(pairs) == stats.cohen_kappa(YES_NO)


def test_perfect_agreement_over_two_categories_is_kappa_1_with_no_spread():
    k = stats.cohen_kappa({("concur", "concur"): 30, ("major", "major"): 10})
    assert (k.value, k.low, k.high, r3(k.se), k.note) == (1.0, 1.0, 1.0, 0.0, "")


def test_cohens_kappa_with_no_pairs_is_undefined_with_a_reason():
    k = stats.cohen_kappa({})
    assert (k.value, k.low, k.high, k.n, k.observed) == (None, None, None, 0, None)
    assert "no items" in k.note


def test_when_every_pair_concurs_kappa_is_undefined_not_one():
    # pe = 1: kappa is 0/0. The board reports it undefined, with 100% observed agreement.
    k = stats.cohen_kappa({("concur", "concur"): 12})
    assert (k.value, k.low, k.high, k.observed, k.expected, k.n) == (None, None, None, 1.0, 1.0, 12)
    assert "undefined" in k.note


def test_a_few_pairs_give_a_kappa_flagged_as_a_rough_guide():
    # (concur, concur) x2, (major, major), (concur, major): po 3/4, pe 1/2, kappa 1/2;
    # by hand the variance is 0.140625 (SE 0.375), the interval clipped at 1.
    k = stats.cohen_kappa({("c", "c"): 2, ("M", "M"): 1, ("c", "M"): 1})
    assert (k.value, k.se, r3(k.low), k.high) == (0.5, 0.375, -0.235, 1.0)
    assert "rough guide" in k.note


def test_disagreement_on_every_item_gives_a_negative_kappa():
    k = stats.cohen_kappa({("a", "b"): 5, ("b", "a"): 5})
    assert (k.value, k.observed, k.expected) == (-1.0, 0.0, 0.5)
    assert k.low >= -1.0


# --- Fleiss' kappa ------------------------------------------------------------------

# Fleiss (1971) as Wikipedia's "Fleiss' kappa" gives it: 10 subjects, 14 raters, 5 categories.
FLEISS_1971 = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_of_the_worked_example_is_0_210():
    k = stats.fleiss_kappa(FLEISS_1971)
    assert (r3(k.value), r3(k.observed), r3(k.expected)) == (0.21, 0.378, 0.213)
    assert (k.n, k.raters) == (10, 14)


def test_fleiss_kappa_interval_uses_the_variance_under_kappa_zero():
    # Fleiss, Nee & Landis (1979): SE0 = 0.0170, interval 0.1767-0.2432, as Cardillo's
    # fleiss.m reports for this example.
    k = stats.fleiss_kappa(FLEISS_1971)
    assert (r3(k.se), r3(k.low), r3(k.high)) == (0.017, 0.177, 0.243)
    assert "kappa = 0" in k.note and "approximate" in k.note


def test_fleiss_kappa_from_profiles_counts_each_profile_as_many_subjects():
    profiles = {(2, 1, 0): 1, (1, 0, 2): 1}
    assert stats.fleiss_kappa_profiles(profiles) == stats.fleiss_kappa([[2, 1, 0], [1, 0, 2]])
    doubled = stats.fleiss_kappa_profiles({(2, 1, 0): 2, (1, 0, 2): 2})
    assert (doubled.n, r3(doubled.value)) == (4, -0.091)


def test_fleiss_kappa_of_two_three_rater_subjects_by_hand():
    # P = 1/3, Pe = 1/4 + 1/36 + 1/9 = 7/18, kappa = -1/11;
    # SE0 = sqrt(2/12) * sqrt((11/18)^2 - 1/6) / (11/18) = 0.3038.
    k = stats.fleiss_kappa([[2, 1, 0], [1, 0, 2]])
    assert (r3(k.value), r3(k.se), r3(k.low), r3(k.high)) == (-0.091, 0.304, -0.686, 0.505)


def test_with_varying_numbers_of_raters_fleiss_uses_the_most_common_number():
    rows = [*FLEISS_1971, [3, 0, 0, 0, 0], [0, 0, 1, 1, 0]]
    k = stats.fleiss_kappa(rows)
    assert (r3(k.value), k.n, k.raters) == (0.21, 10, 14)
    assert "2 subjects with another number of ratings left out" in k.note


def test_fleiss_kappa_with_one_rater_per_subject_is_undefined_with_a_reason():
    k = stats.fleiss_kappa([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert (k.value, k.n, k.raters) == (None, 0, 1)
    assert "at least two" in k.note


def test_fleiss_kappa_with_no_subjects_is_undefined_with_a_reason():
    for empty in ([], [[0, 0, 0]]):
        k = stats.fleiss_kappa(empty)
        assert (k.value, k.low, k.high, k.n) == (None, None, None, 0)
        assert k.note


def test_when_every_rating_is_concur_fleiss_kappa_is_undefined_not_one():
    k = stats.fleiss_kappa([[3, 0, 0], [3, 0, 0], [3, 0, 0]])
    assert (k.value, k.observed, k.expected, k.n, k.raters) == (None, 1.0, 1.0, 3, 3)
    assert "undefined" in k.note


def test_profiles_over_different_categories_are_refused():
    with pytest.raises(ValueError):
        stats.fleiss_kappa([[1, 1], [1, 1, 0]])


# --- Percentiles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([2, 4, 6, 8, 10], 0.5, 6.0),
        ([2, 4, 6, 8, 10], 0.9, 9.2),  # h = 3.6: 8 + 0.6 * (10 - 8)
        ([10, 2, 8, 4, 6], 0.9, 9.2),  # order does not matter
        ([1, 2, 3, 4], 0.5, 2.5),
        ([1, 2, 3, 4], 0.9, 3.7),  # h = 2.7: 3 + 0.7
        ([7.5], 0.9, 7.5),
        ([1, 3], 0.0, 1.0),
        ([1, 3], 1.0, 3.0),
    ],
)
def test_percentiles_interpolate_between_the_closest_ranks(values, q, expected):
    e = stats.percentile(values, q)
    assert e.value == pytest.approx(expected)
    assert (e.n, e.low, e.high) == (len(values), None, None)


def test_the_percentile_of_no_values_is_undefined_with_a_reason():
    e = stats.percentile([], 0.5)
    assert (e.value, e.n) == (None, 0) and e.note


def test_percentiles_refuse_a_q_outside_zero_to_one_and_non_numbers():
    with pytest.raises(ValueError):
        stats.percentile([1, 2], 1.5)
    with pytest.raises(ValueError):
        stats.percentile([1, math.nan], 0.5)


# --- Published ranges -----------------------------------------------------------------


def test_the_published_ranges_are_those_of_the_brief_with_their_sources():
    assert (PATHOLOGY_MAJOR.low, PATHOLOGY_MAJOR.high) == (0.06, 0.16)
    assert (PLAN_MAJOR.low, PLAN_MAJOR.high) == (0.41, 0.52)
    for r in published.PUBLISHED_RANGES:
        assert r.sources and all(s.url.startswith("https://doi.org/") for s in r.sources)
        assert "discordance" in r.label
        assert "error" not in (r.label + r.note).lower()


def test_a_rate_is_placed_beside_the_published_range_in_words():
    within = compare_with_range(stats.proportion(10, 100), PATHOLOGY_MAJOR)
    assert (within.position, within.overlaps) == (Position.WITHIN, True)
    assert within.sentence.endswith("is within the published range of 6 to 16%.")
    above = compare_with_range(stats.proportion(300, 1000), PATHOLOGY_MAJOR)
    assert (above.position, above.overlaps) == (Position.ABOVE, False)
    assert "its whole interval lies above that range" in above.sentence
    close = compare_with_range(stats.proportion(4, 20), PATHOLOGY_MAJOR)
    assert (close.position, close.overlaps) == (Position.ABOVE, True)
    assert "may be chance" in close.sentence
    nothing = compare_with_range(stats.proportion(0, 0), PLAN_MAJOR)
    assert (nothing.position, nothing.overlaps) == (Position.UNKNOWN, None)


def test_percent_shows_a_share_or_a_dash():
    assert (published.percent(0.1234), published.percent(0.5, 0), published.percent(None)) == (
        "12.3%",
        "50%",
        "—",
    )


# --- Chart geometry -------------------------------------------------------------------


def test_stacked_segments_lie_end_to_end_and_fill_the_bar():
    found = stats.shares({"concur": 6, "minor": 1, "major": 3})
    segments = charts.stacked(found.items(), 400)
    assert [(s.level, s.x, s.width) for s in segments] == [
        ("concur", 0.0, 240.0),
        ("minor", 240.0, 40.0),
        ("major", 280.0, 120.0),
    ]


def test_axis_positions_stay_on_the_axis():
    assert charts.scale(0.0, -1, 1, 300) == 150.0
    assert (charts.scale(-2, -1, 1, 300), charts.scale(2, -1, 1, 300)) == (0.0, 300.0)
    assert charts.bar_width(3, 6, 360) == 180.0 and charts.bar_width(0, 0, 360) == 0.0
    with pytest.raises(ValueError):
        charts.scale(0.5, 1, 1, 100)


def test_an_undefined_share_draws_no_segment():
    segments = charts.stacked([("concur", Estimate(None, None, None, 0, "none"))], 400)
    assert [(s.x, s.width) for s in segments] == [(0.0, 0.0)]


# --- Purity -----------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["stats.py", "published.py", "charts.py"])
def test_the_statistics_modules_import_only_the_standard_library(module):
    source = Path(__file__).resolve().parents[2] / "board" / "concordance" / module
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    allowed = {
        "__future__",
        "math",
        "enum",
        "typing",
        "collections",
        "collections.abc",
        "dataclasses",
    }
    assert imported <= allowed | {"board.concordance.stats"}, imported
