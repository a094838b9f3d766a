"""Problems with a FHIR message as an OperationOutcome, each naming its path.

Pure: no Flask, SQLAlchemy or Celery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem, at a FHIRPath-like location such as Bundle.entry[2].resource.code."""

    path: str
    message: str
    # FHIR issue-type codes: structure, required, value, code-invalid, too-long, too-costly.
    code: str = "invalid"


class FhirRefused(Exception):
    """The bundle cannot become a case; nothing was created."""

    def __init__(self, issues: Sequence[Issue], status: int = 422):
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues))
        self.issues = list(issues)
        self.status = status


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": issue.code,
                "diagnostics": f"{issue.path}: {issue.message}",
                "expression": [issue.path],
            }
            for issue in issues
        ],
    }


def fhir_path(loc: Iterable[Any], root: str = "Bundle") -> str:
    """('entry', 0, 'resource', 'code') -> Bundle.entry[0].resource.code."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}"
    return out
