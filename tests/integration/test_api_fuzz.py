"""schemathesis against /api/v1/openapi.json, in-process on the WSGI app, as each role.

Every operation of the document is called with generated requests (path ids pinned to
the seeded world's real objects, so bodies and queries are fuzzed against things that
exist) as anonymous, a referrer, a second referrer, an assigned and an unassigned
reviewer, the coordinator and the administrator. Checked on every response:

- no 5xx (`not_a_server_error`);
- the response conforms to the document: its status is documented, its content type
  and its body match the schema (`status_code_conformance`, `content_type_conformance`,
  `response_schema_conformance`);
- no auth bypass: an operation the authorisation matrix (test_authorisation_matrix.py)
  forbids to a role never answers that role with a 2xx.

Bounded for CI: FUZZ_EXAMPLES (20) examples per operation for each role allowed to use
it, FUZZ_FORBIDDEN_EXAMPLES (5) for the others (refused before the input is read),
derandomized (the same examples every run), no example database, no shrinking.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.test_authorisation_matrix import (
    DEFAULT_IDS,
    Row,
    Seeded,
    _restore,
    _table,
    seeded,
)

__all__ = ["seeded"]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
FORBIDDEN_EXAMPLES = int(os.environ.get("FUZZ_FORBIDDEN_EXAMPLES", "5"))
FUZZ_ROLES = (
    "anonymous",
    "referrer",
    "other_referrer",
    "pathologist",
    "pathologist_b",
    "coordinator",
    "admin",
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _rule_of(path: str) -> str:
    """The Flask rule of an OpenAPI path: /cases/{case_id} -> /cases/<int:case_id>."""
    return re.sub(r"\{(\w+)\}", r"<int:\1>", path)


def _path_ids(seeded: Seeded, row: Row, path: str) -> dict[str, int]:
    names = re.findall(r"\{(\w+)\}", path)
    return {name: seeded.objects[row.ids.get(name, DEFAULT_IDS[name])] for name in names}


def _fuzz(
    operation: Any, path_ids: dict[str, int], headers: dict[str, str], forbidden: bool
) -> tuple[list[str], int, bool]:
    # A forbidden operation is refused before its input is read, whatever the input:
    # fewer examples say as much there; the allowed roles get the full count.
    examples = FORBIDDEN_EXAMPLES if forbidden else EXAMPLES
    """Runs the examples of one operation as one role; every failure is kept."""
    seen: list[str] = []
    calls = 0
    changed = False

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(path_parameters=path_ids or None))
    def run(case: Any) -> None:
        nonlocal calls, changed
        response = case.call(headers=headers)
        calls += 1
        changed = changed or (case.method.upper() != "GET" and response.status_code < 300)
        case.validate_response(response, checks=CHECKS)
        assert not (forbidden and 200 <= response.status_code < 300), (
            f"auth bypass: {response.status_code} for a role the matrix forbids"
        )

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # what schemathesis found, once they ran
        seen.append(f"{type(exc).__name__}: {_summary(exc)}")
    return seen, calls, changed


def _summary(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " | ".join(lines[:8])[:600]


def test_the_api_holds_its_document_and_its_rules_under_generated_requests(seeded):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded.app)
    table = _table()
    failures: list[str] = []
    calls = 0
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {(_rule_of(o.path), o.method.upper()) for o in operations}
    api_rules = {k for k in table if k[0].startswith("/api/v1/")}
    # Every API rule is fuzzed but the document itself and the health probe.
    undocumented = api_rules - documented - {("/api/v1/openapi.json", "GET")}
    assert undocumented <= {("/api/v1/health", "GET")}, sorted(undocumented)
    for operation in operations:
        method = operation.method.upper()
        row = table[(_rule_of(operation.path), method)]
        path_ids = _path_ids(seeded, row, operation.path)
        for role in FUZZ_ROLES:
            seen, count, changed = _fuzz(
                operation, path_ids, seeded.tokens[role], row.expected(role) != "ok"
            )
            calls += count
            for message in dict.fromkeys(seen):
                failures.append(f"{method} {operation.path} as {role}: {message}")
            if changed:  # back to the seeded world before the next role
                _restore(seeded.app)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(operations)} operations, {calls} calls, {elapsed:.1f} s")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
