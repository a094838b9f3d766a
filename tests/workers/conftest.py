"""Shared builders for the tests that run real worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask

from board.auth.models import User
from board.auth.roles import Role
from board.cases import services as cases
from board.cases.models import Case
from board.cases.schemas import CaseInput
from board.validation import parse
from tests.support import factories as f
from tests.support.services import REDIS_URL


@dataclass
class World:
    referrer: User
    home_pathologist: User  # at the referrer's institution: never eligible
    reviewers: list[User]
    coordinator: User


def build_world(pathologists: int = 4, oncologists: int = 3) -> World:
    home = f.institution("Home Oncology")
    away = f.institution("University Breast Center")
    reviewers = [f.user(Role.PATHOLOGIST, away) for _ in range(pathologists)]
    reviewers += [f.user(Role.MEDICAL_ONCOLOGIST, away) for _ in range(oncologists)]
    reviewers += [f.user(Role.RADIATION_ONCOLOGIST, away) for _ in range(oncologists)]
    return World(
        referrer=f.user(Role.REFERRER, home),
        home_pathologist=f.user(Role.PATHOLOGIST, home),
        reviewers=reviewers,
        coordinator=f.user(Role.COORDINATOR, away),
    )


# A post-biopsy case always needs pathology; the referrer may ask for more.
REQUESTS: list[list[str]] = [[], ["medical_oncology"], ["medical_oncology", "radiation_oncology"]]


def complete_draft(referrer: User, requested: list[str], pdf: bytes) -> Case:
    """A post-biopsy draft with its pathology report: ready to submit."""
    data = parse(CaseInput, f.case_body(requested_specialties=requested))
    case = cases.create_draft(referrer, data)
    cases.add_record(referrer, case.id, kind="pathology_report", filename="path.pdf", data=pdf)
    return case


class Http:
    """A bearer-token client for the running web server."""

    def __init__(self, base_url: str, email: str):
        self.base = f"{base_url}/api/v1"
        response = requests.post(
            f"{self.base}/auth/token", json={"username": email, "password": f.PASSWORD}, timeout=30
        )
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['token']}"}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", headers=self.headers, timeout=30)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.base}{path}", headers=self.headers, timeout=30, **kwargs)

    def complete_draft(self, **overrides: Any) -> int:
        """Creates a post-biopsy draft and uploads its pathology report: ready to submit."""
        created = self.post("/cases", json=f.case_body(**overrides))
        assert created.status_code == 201, created.text
        case_id: int = created.json()["id"]
        uploaded = self.post(
            f"/cases/{case_id}/records",
            data={"kind": "pathology_report"},
            files={"file": ("path.pdf", f.pdf(), "application/pdf")},
        )
        assert uploaded.status_code == 201, uploaded.text
        return case_id


@pytest.fixture
def broker(app: Flask) -> Iterator[redis.Redis]:
    """This suite's Redis database, empty before and after: a message left over from
    another test would name ids that the truncated tables hand out again."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path
