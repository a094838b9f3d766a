"""Turn validation failures into messages a clinician understands.

Pydantic checks the shape of every form and API body; this module rewrites its
errors as "Field label: what is wrong and what is allowed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

M = TypeVar("M", bound=BaseModel)

# The largest value an integer key holds (PostgreSQL integer). An id in a body beyond it
# is refused here in words rather than failing in the database.
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def is_id(value: object) -> bool:
    """Whether a raw JSON value is a usable id (a whole number, not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidInput(Exception):
    """Bad input from a person or an integration; carries one message per field."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind in ("enum", "literal_error"):
        expected = ctx.get("expected", "")
        return f"must be one of {expected}".replace("'", "")
    if kind == "extra_forbidden":
        return "is not a field the board knows; check the spelling"
    if kind.startswith("date"):
        return "must be a date written as YYYY-MM-DD, e.g. 1968-03-14"
    if kind.startswith("time"):
        return "must be a time written as HH:MM, e.g. 16:00"
    if kind.startswith("bool"):
        return "must be true or false"
    if kind.startswith("int"):
        return "must be a whole number"
    if kind.startswith("float"):
        return "must be a number"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_type":
        return "must be text"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "list_type":
        return "must be a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be an object with named fields"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt'):g}"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt'):g}"
    if kind == "too_long":
        return f"may list at most {ctx.get('max_length')} items"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge'):g}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le'):g}"
    if kind == "string_pattern_mismatch":
        return "is not written in a form the board recognises"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


# Branch tags of tagged unions (see board/reviews/schemas.py): not fields, so not shown.
_UNION_TAGS = frozenset({"structured", "free-text"})


def errors_from(exc: ValidationError) -> list[FieldError]:
    out = []
    for error in exc.errors():
        parts = [str(part) for part in error["loc"] if part not in _UNION_TAGS]
        out.append(FieldError(".".join(parts) or "body", _message(error)))
    return out


def consistency_errors(model: BaseModel, prefix: str = "") -> list[FieldError]:
    """Asks every part of a parsed body for the clinical contradictions it holds.

    Fields are checked one by one by pydantic; a part whose fields are each valid
    but cannot be true together (grade 2 with a Nottingham score of 8, HER2 IHC 3+
    called negative, Tis with N1) says so through a `problems()` method, which
    names fields relative to itself.
    """
    errors: list[FieldError] = []
    problems = getattr(model, "problems", None)
    if callable(problems):
        errors += [FieldError(f"{prefix}{name}", message) for name, message in problems()]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, BaseModel):
                where = f"{prefix}{name}." if item is value else f"{prefix}{name}.{index}."
                errors += consistency_errors(item, where)
    return errors


def parse(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidInput([FieldError("body", "must be a JSON object")])
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(errors_from(exc)) from exc
    errors = consistency_errors(parsed)
    if errors:
        raise InvalidInput(errors)
    return parsed
