"""What every page shares: forms built from the schemas, choices, role checks.

Form fields are named by their path in the schema ("patient.name"), so one
pydantic schema validates the JSON API and the pages alike.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, get_args, get_origin

from flask import redirect, url_for
from flask_login import current_user
from pydantic import BaseModel
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from board.auth.models import User
from board.auth.roles import SPECIALTY_LABEL, Role, Specialty
from board.cases import schemas
from board.cases.rules import (
    RECORD_LABEL,
    STATUS_LABEL,
    TIMEPOINT_LABEL,
    CaseStatus,
    RecordKind,
    Timepoint,
)
from board.errors import NotFound
from board.reviews.models import Severity, Verdict
from board.validation import FieldError

Page = str | tuple[str, int]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds, also inside `X | None`, `Annotated[...]` and
    the tagged `X | str` union of a reviewer's alternative."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def form_data(
    model: type[BaseModel], form: MultiDict[str, str], prefix: str = ""
) -> dict[str, Any]:
    """Builds the nested body a schema expects from form fields named by their path.

    Empty fields are left out, so an optional field stays unset and a required one
    is reported as required. The schema (pydantic, lax) reads "2", "true" and
    "1968-03-14" as the number, boolean and date they are.
    """
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model_in(field.annotation)
        if sub is not None:
            nested = form_data(sub, form, f"{key}.")
            if nested or field.is_required():
                out[name] = nested
        elif get_origin(field.annotation) is list:
            values = [v.strip() for v in form.getlist(key) if v.strip()]
            if values:
                out[name] = values
        else:
            value = form.get(key, "").strip()
            if value:
                out[name] = value
    return out


def errors_by_field(errors: Iterable[FieldError]) -> dict[str, str]:
    """Messages keyed by form field name; a list item's error goes to its list field."""
    out: dict[str, str] = {}
    for error in errors:
        key = ".".join(p for p in error.field.split(".") if not p.isdigit()) or "body"
        out[key] = f"{out[key]}; {error.message}" if key in out else error.message
    return out


def flatten(data: dict[str, Any] | None, prefix: str = "") -> MultiDict[str, str]:
    """The inverse of form_data: stored JSON as form values, to fill a form again."""
    out: MultiDict[str, str] = MultiDict()
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            for item in value:
                out.add(name, str(item))
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is not None:
            out[name] = str(value)
    return out


def _options(enum: Iterable[Any], labels: dict[Any, str] | None = None) -> list[tuple[str, str]]:
    return [(e.value, labels[e] if labels else str(e.value).replace("_", " ")) for e in enum]


# The choices every form offers, from the same enums the schemas validate against.
CHOICES = types.SimpleNamespace(
    sex=_options(schemas.Sex),
    timepoint=_options(Timepoint, TIMEPOINT_LABEL),
    specialty=_options(Specialty, SPECIALTY_LABEL),
    histologic_type=[
        (
            e.value,
            "DCIS"
            if e is schemas.HistologicType.DCIS
            else "LCIS"
            if e is schemas.HistologicType.LCIS
            else "invasive ductal (no special type)"
            if e is schemas.HistologicType.INVASIVE_DUCTAL
            else e.value.replace("_", " "),
        )
        for e in schemas.HistologicType
    ],
    laterality=_options(schemas.Laterality),
    grade=[("1", "1"), ("2", "2"), ("3", "3")],
    receptor=_options(schemas.ReceptorStatus),
    her2=_options(schemas.Her2Status),
    stage_group=_options(schemas.StageGroup),
    surgery=_options(schemas.Surgery),
    yes_no=[("true", "yes"), ("false", "no")],
    record_kind=_options(RecordKind, RECORD_LABEL),
    status=_options(CaseStatus, STATUS_LABEL),
    verdict=_options(Verdict),
    severity=[
        (Severity.MINOR.value, "minor: no change in management"),
        (Severity.MAJOR.value, "major: changes management"),
    ],
)


def me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined,no-any-return]


def require_role(*roles: Role) -> User:
    """Role-only pages answer 404 to everyone else, like a missing page."""
    user = me()
    if Role(user.role) not in roles:
        raise NotFound()
    return user


def see_other(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)
