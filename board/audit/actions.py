"""The names of audited actions. The completeness test (tests/integration/
test_audit_completeness.py) holds one row per action the issue lists."""

from __future__ import annotations

from typing import Final

CASE_VIEW: Final = "case_view"
CASE_LIST: Final = "case_list"
RECORD_DOWNLOAD: Final = "record_download"
SECOND_OPINION_VIEW: Final = "second_opinion_view"
SECOND_OPINION_DOWNLOAD: Final = "second_opinion_download"
CASE_CREATE: Final = "case_create"
CASE_UPDATE: Final = "case_update"
CASE_SUBMIT: Final = "case_submit"
ASSIGN: Final = "assign"
REVIEW_SUBMIT: Final = "review_submit"
CONSENSUS_SIGN: Final = "consensus_sign"
RELEASE: Final = "release"
ANALYTICS_EXPORT: Final = "analytics_export"
LOGIN: Final = "login"
LOGOUT: Final = "logout"
LOGIN_FAILED: Final = "login_failed"
ROLE_CHANGE: Final = "role_change"
# The audit trail itself: reading it and exporting it are audited too.
AUDIT_VIEW: Final = "audit_view"
AUDIT_EXPORT: Final = "audit_export"
# A coordinator opens a case outside their rights with a written reason (built on
# another branch): record(BREAK_GLASS, case_id=..., detail={"reason_id": ..., ...}).
BREAK_GLASS: Final = "case.break_glass"

# Outcomes.
OK: Final = "ok"
DENIED: Final = "denied"
