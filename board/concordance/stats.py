"""Pure statistics of concordance and agreement: proportions, kappa, percentiles.

No Flask, SQLAlchemy or Celery here (standard library and `math` only): the
functions take counts the database has already aggregated and return frozen
dataclasses, tested against worked examples whose answers are published
(tests/unit/test_concordance_stats.py).

Conventions, chosen once and used everywhere:

- Intervals are 95%, with z = 1.959963984540054 (the 97.5th percentile of the
  standard normal distribution).
- Nothing returns NaN or raises on empty input. A figure that cannot be computed
  has `value=None` (and no interval) and a `note` saying why, in words.
- A proportion's interval is the Wilson score interval (Wilson 1927, JASA 22:209),
  which stays inside [0, 1] and behaves at 0/n and n/n, unlike the Wald interval.
- Cohen's kappa (Cohen 1960, Educ Psychol Meas 20:37) is unweighted (nominal
  categories). Its standard error is the large-sample one for kappa other than 0
  of Fleiss, Cohen & Everitt (1969, Psychol Bull 72:323), and its interval is
  kappa +/- z*SE, clipped to [-1, 1].
- Fleiss' kappa (Fleiss 1971, Psychol Bull 76:378) needs the same number of
  ratings for every subject. When the number varies, the subjects with the most
  common number of ratings (the larger on a tie) are used and the others are left
  out, and the note says how many. Its standard error is that of Fleiss, Nee &
  Landis (1979, Psychol Bull 86:974), which is derived *under the hypothesis
  kappa = 0*: it is exact for testing whether agreement beats chance, and only an
  approximation as the width of an interval around a kappa far from 0. The
  interval kappa +/- z*SE0 is reported as that approximation (it is what R's
  irr::kappam.fleiss and the common MATLAB fleiss.m report), clipped to [-1, 1].
- When every rating falls in one category, agreement expected by chance is 1 and
  kappa is 0/0: it is reported as undefined (value None), not as 1.0, with the
  observed agreement (1.0) beside it. Calling it 1.0 would claim the raters
  discriminate perfectly when they were never put to a choice.
- Percentiles interpolate linearly between the closest ranks (Hyndman & Fan 1996,
  "type 7"): the definition of PostgreSQL's percentile_cont and numpy's default,
  so the database and this module give the same median and 90th percentile.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

Z95 = 1.959963984540054
# Below this many items the large-sample kappa interval is only a rough guide.
FEW_ITEMS = 30
_EPS = 1e-12
Label = TypeVar("Label", bound=Hashable)

COHEN_METHOD = "Cohen 1960; variance of Fleiss, Cohen & Everitt 1969"
FLEISS_METHOD = "Fleiss 1971; variance under kappa = 0 of Fleiss, Nee & Landis 1979"


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% interval. `value` is None when it cannot be computed
    (then `note` says why); `low`/`high` are None where no interval applies."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    note: str = ""

    @property
    def defined(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Kappa:
    """A kappa with its interval, the agreement observed and expected by chance, and
    the standard error the interval came from."""

    value: float | None
    low: float | None
    high: float | None
    n: int  # items (Cohen) or subjects (Fleiss) the kappa was computed over
    note: str
    observed: float | None
    expected: float | None
    se: float | None
    method: str
    raters: int | None = None  # ratings per subject (Fleiss); 2 for Cohen

    @property
    def defined(self) -> bool:
        return self.value is not None


def _check_count(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number of at least 0, not {value!r}")


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


# --- Proportions --------------------------------------------------------------------


def proportion(successes: int, n: int, *, z: float = Z95) -> Estimate:
    """successes/n with its Wilson score interval.

    Wilson: centre (p + z^2/2n) / (1 + z^2/n), half-width
    z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n).
    """
    _check_count(successes, "successes")
    _check_count(n, "n")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    if n == 0:
        return Estimate(None, None, None, 0, "nothing to count in this selection")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # The interval always holds p; min/max only keep rounding from saying otherwise at 0/n, n/n.
    low, high = min(centre - half, p), max(centre + half, p)
    return Estimate(p, _clip(low, 0.0, 1.0), _clip(high, 0.0, 1.0), n)


def shares(counts: Mapping[str, int], *, z: float = Z95) -> dict[str, Estimate]:
    """Each category's share of the total, with its Wilson interval (the same order)."""
    for key, value in counts.items():
        _check_count(value, f"count of {key}")
    total = sum(counts.values())
    return {key: proportion(value, total, z=z) for key, value in counts.items()}


# --- Cohen's kappa ------------------------------------------------------------------


def _undefined_kappa(
    n: int,
    note: str,
    method: str,
    *,
    observed: float | None = None,
    expected: float | None = None,
    raters: int | None = None,
) -> Kappa:
    return Kappa(None, None, None, n, note, observed, expected, None, method, raters)


def cohen_kappa(table: Mapping[tuple[Label, Label], int], *, z: float = Z95) -> Kappa:
    """Cohen's unweighted kappa for two raters from their cross-table:
    `table[(a, b)]` is the number of items rater 1 labelled a and rater 2 labelled b.

    kappa = (po - pe) / (1 - pe), po the share of items on the diagonal and
    pe = sum_k p(k.) p(.k). Variance (Fleiss, Cohen & Everitt 1969):

        [ sum_i p_ii (1 - (p_i. + p_.i)(1 - k))^2
          + (1 - k)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
          - (k - pe (1 - k))^2 ] / (n (1 - pe)^2)
    """
    for key, count in table.items():
        _check_count(count, f"count of {key}")
    n = sum(table.values())
    if n == 0:
        return _undefined_kappa(0, "no items rated by both reviewers", COHEN_METHOD, raters=2)
    categories = sorted({a for a, _ in table} | {b for _, b in table}, key=repr)
    p = {cell: count / n for cell, count in table.items()}
    row = {k: sum(v for (a, _), v in p.items() if a == k) for k in categories}
    col = {k: sum(v for (_, b), v in p.items() if b == k) for k in categories}
    observed = sum(p.get((k, k), 0.0) for k in categories)
    expected = sum(row[k] * col[k] for k in categories)
    if 1 - expected <= _EPS:
        return _undefined_kappa(
            n,
            "both reviewers gave every item the same one verdict, so the agreement "
            "expected by chance is 100% and kappa is undefined (0/0); observed "
            "agreement is 100%",
            COHEN_METHOD,
            observed=observed,
            expected=1.0,
            raters=2,
        )
    kappa = (observed - expected) / (1 - expected)
    diagonal = sum(
        p.get((k, k), 0.0) * (1 - (row[k] + col[k]) * (1 - kappa)) ** 2 for k in categories
    )
    off_diagonal = (1 - kappa) ** 2 * sum(
        share * (col[a] + row[b]) ** 2 for (a, b), share in p.items() if a != b
    )
    correction = (kappa - expected * (1 - kappa)) ** 2
    variance = max(0.0, (diagonal + off_diagonal - correction) / (n * (1 - expected) ** 2))
    se = math.sqrt(variance)
    note = f"only {n} items: the large-sample interval is a rough guide" if n < FEW_ITEMS else ""
    return Kappa(
        kappa,
        _clip(kappa - z * se, -1.0, 1.0),
        _clip(kappa + z * se, -1.0, 1.0),
        n,
        note,
        observed=observed,
        expected=expected,
        se=se,
        method=COHEN_METHOD,
        raters=2,
    )


def cohen_kappa_from_pairs(pairs: Iterable[tuple[Label, Label]], *, z: float = Z95) -> Kappa:
    """Cohen's kappa from (rater 1's label, rater 2's label), one pair per item."""
    return cohen_kappa(Counter(pairs), z=z)


# --- Fleiss' kappa ------------------------------------------------------------------


def fleiss_kappa_profiles(profiles: Mapping[tuple[int, ...], int], *, z: float = Z95) -> Kappa:
    """Fleiss' kappa from rating profiles: `profiles[(x_1, ..., x_k)]` is the number
    of subjects whose ratings fell x_j in category j. (The database returns
    subjects grouped this way; `fleiss_kappa` takes one row per subject.)

    For N subjects with n ratings each: P_i = (sum_j x_ij^2 - n) / (n(n-1)),
    P = mean P_i, p_j = sum_i x_ij / (N n), Pe = sum_j p_j^2,
    kappa = (P - Pe) / (1 - Pe), and under kappa = 0 (Fleiss, Nee & Landis 1979)

        SE0 = sqrt(2 / (N n (n-1))) * sqrt((sum p_j q_j)^2 - sum p_j q_j (q_j - p_j))
              / sum p_j q_j,   q_j = 1 - p_j.
    """
    width = {len(profile) for profile in profiles}
    if len(width) > 1:
        raise ValueError("every profile must count the same categories")
    for profile, subjects in profiles.items():
        _check_count(subjects, f"subjects with profile {profile}")
        for x in profile:
            _check_count(x, f"ratings in profile {profile}")
    by_raters: Counter[int] = Counter()
    for profile, subjects in profiles.items():
        if subjects:
            by_raters[sum(profile)] += subjects
    rated = {m: s for m, s in by_raters.items() if m >= 1}
    if not rated:
        return _undefined_kappa(0, "no rated subjects in this selection", FLEISS_METHOD)
    eligible = {m: s for m, s in rated.items() if m >= 2}
    if not eligible:
        return _undefined_kappa(
            0,
            "every subject has a single rating: agreement between raters needs at least two",
            FLEISS_METHOD,
            raters=1,
        )
    n = max(eligible, key=lambda m: (eligible[m], m))
    left_out = sum(s for m, s in rated.items() if m != n)
    used = {profile: s for profile, s in profiles.items() if s and sum(profile) == n}
    big_n = sum(used.values())
    k = len(next(iter(used)))
    p = [sum(profile[j] * s for profile, s in used.items()) / (big_n * n) for j in range(k)]
    agreement = (
        sum(s * (sum(x * x for x in profile) - n) / (n * (n - 1)) for profile, s in used.items())
        / big_n
    )
    expected = sum(pj * pj for pj in p)
    notes = []
    if left_out:
        notes.append(
            f"{left_out} subject{'s' if left_out != 1 else ''} with another number of "
            f"ratings left out (Fleiss' kappa needs the same number for every subject; "
            f"the most common, {n}, was used)"
        )
    if 1 - expected <= _EPS:
        notes.insert(
            0,
            "every rating fell in one category, so the agreement expected by chance is "
            "100% and kappa is undefined (0/0); observed agreement is 100%",
        )
        return _undefined_kappa(
            big_n,
            "; ".join(notes),
            FLEISS_METHOD,
            observed=agreement,
            expected=1.0,
            raters=n,
        )
    kappa = (agreement - expected) / (1 - expected)
    pq = sum(pj * (1 - pj) for pj in p)
    spread = pq * pq - sum(pj * (1 - pj) * ((1 - pj) - pj) for pj in p)
    se = math.sqrt(2 / (big_n * n * (n - 1))) * math.sqrt(max(0.0, spread)) / pq
    notes.append("interval from the variance under kappa = 0: approximate away from 0")
    if big_n < FEW_ITEMS:
        notes.append(f"only {big_n} subjects: a rough guide")
    return Kappa(
        kappa,
        _clip(kappa - z * se, -1.0, 1.0),
        _clip(kappa + z * se, -1.0, 1.0),
        big_n,
        "; ".join(notes),
        observed=agreement,
        expected=expected,
        se=se,
        method=FLEISS_METHOD,
        raters=n,
    )


def fleiss_kappa(subjects: Iterable[Sequence[int]], *, z: float = Z95) -> Kappa:
    """Fleiss' kappa from one row per subject: how many raters put it in each category."""
    return fleiss_kappa_profiles(Counter(tuple(row) for row in subjects), z=z)


# --- Percentiles --------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> Estimate:
    """The q-th quantile (0 <= q <= 1), interpolating linearly between the closest
    ranks: with the values sorted x_0..x_{m-1}, h = (m - 1) q and the answer is
    x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h)). No interval."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must lie between 0 and 1, not {q}")
    xs = sorted(float(v) for v in values)
    if any(not math.isfinite(x) for x in xs):
        raise ValueError("percentiles need finite numbers")
    if not xs:
        return Estimate(None, None, None, 0, "no values in this selection")
    h = (len(xs) - 1) * q
    lower = math.floor(h)
    upper = min(lower + 1, len(xs) - 1)
    return Estimate(xs[lower] + (h - lower) * (xs[upper] - xs[lower]), None, None, len(xs))
