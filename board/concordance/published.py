"""What published studies of breast second opinions found, for the board to compare
itself with; and how a board figure sits beside a published range, in words.

Pure: no Flask or SQLAlchemy. The words are "discordance" and "change", never
"error": a second opinion that differs is not proof the first one was wrong.

The ranges are those of the coordinator's-board issue. The sources below were
checked against their published abstracts; each finding is the study's own figure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from board.concordance.stats import Estimate


@dataclass(frozen=True)
class Source:
    citation: str
    finding: str
    url: str


@dataclass(frozen=True)
class PublishedRange:
    key: str
    label: str  # what the board measures to compare with it
    low: float
    high: float
    sources: tuple[Source, ...]
    note: str


PATHOLOGY_MAJOR = PublishedRange(
    key="pathology_major_change",
    label="Pathology re-review: cases with a major diagnostic discordance",
    low=0.06,
    high=0.16,
    sources=(
        Source(
            "Kennecke HF, Speers CH, Ennis CA, et al. Impact of routine pathology review "
            "on treatment for node-negative breast cancer. J Clin Oncol. "
            "2012;30(18):2227-2231.",
            "review changed the recommended treatment in 25 of 405 patients (6%)",
            "https://doi.org/10.1200/JCO.2011.38.9247",
        ),
        Source(
            "Staradub VL, Messenger KA, Hao N, et al. Changes in breast cancer therapy "
            "because of pathology second opinions. Ann Surg Oncol. 2002;9:982-987.",
            "major changes that altered surgical therapy in 7.8% of cases",
            "https://doi.org/10.1007/BF02574516",
        ),
        Source(
            "Romanoff AM, Cohen A, Schmidt H, et al. Breast pathology review: does it make "
            "a difference? Ann Surg Oncol. 2014;21:3504.",
            "change in surgical management in 41 of 430 specimens (10%)",
            "https://doi.org/10.1245/s10434-014-3792-5",
        ),
        Source(
            "Changes in breast cancer reports after pathology second opinion. Breast J. "
            "2014;20(3):295-301 (PMID 24689830).",
            "major change with potential to alter prognosis or treatment in 33 of 205 cases (16%)",
            "https://doi.org/10.1111/tbj.12252",
        ),
    ),
    note="Share of cases with a pathology review whose diagnosis verdict is a major "
    "differ. The studies count changes in management; the board counts the "
    "reviewer's own 'major: changes management' severity.",
)

PLAN_MAJOR = PublishedRange(
    key="plan_major_change",
    label="Full multidisciplinary review: cases with a major plan discordance",
    low=0.41,
    high=0.52,
    sources=(
        Source(
            "Chang JH, Vines E, Bertsch H, et al. The impact of a multidisciplinary breast "
            "cancer center on recommendations for patient management: the University of "
            "Pennsylvania experience. Cancer. 2001;91(7):1231-1237.",
            "the panel's recommendation differed from the outside physicians' in 32 of 75 "
            "patients (43%)",
            "https://doi.org/10.1002/1097-0142(20010401)91:7<1231::AID-CNCR1123>3.0.CO;2-K",
        ),
        Source(
            "Newman EA, et al. Changes in surgical management "
            "resulting from case review at a breast cancer multidisciplinary tumor board. "
            "Cancer. 2006;107:2346.",
            "recommendations for surgical management changed in 77 of 149 patients (52%)",
            "https://doi.org/10.1002/cncr.22266",
        ),
    ),
    note="Share of cases whose plan verdict is a major differ in any review. The lower "
    "bound (41%) is as given in the project brief; the two studies cited were verified.",
)

PUBLISHED_RANGES = (PATHOLOGY_MAJOR, PLAN_MAJOR)


class Position(enum.StrEnum):
    BELOW = "below"
    WITHIN = "within"
    ABOVE = "above"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Comparison:
    position: Position
    # Whether the board's 95% interval reaches into the published range: if it does,
    # a difference from the range may be chance.
    overlaps: bool | None
    sentence: str


def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def compare_with_range(estimate: Estimate, published: PublishedRange) -> Comparison:
    """Where the board's rate sits beside a published range, in a sentence."""
    span = f"range of {published.low * 100:.0f} to {published.high * 100:.0f}%"
    if estimate.value is None:
        return Comparison(
            Position.UNKNOWN,
            None,
            f"No rate to compare with the published {span}: {estimate.note}.",
        )
    value = estimate.value
    low = estimate.low if estimate.low is not None else value
    high = estimate.high if estimate.high is not None else value
    overlaps = low <= published.high and high >= published.low
    rate = (
        f"The board's rate, {percent(value)} (95% interval {percent(low)} to {percent(high)}, "
        f"{estimate.n} cases),"
    )
    if published.low <= value <= published.high:
        return Comparison(Position.WITHIN, True, f"{rate} is within the published {span}.")
    position = Position.BELOW if value < published.low else Position.ABOVE
    if overlaps:
        tail = "its interval overlaps that range, so the difference may be chance"
    else:
        tail = f"its whole interval lies {position.value} that range"
    return Comparison(
        position, overlaps, f"{rate} is {position.value} the published {span}; {tail}."
    )
