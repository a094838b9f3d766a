"""A small JSON API client over Flask's test client (or any requests-like session)."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient

from tests.support.factories import PASSWORD


class Api:
    def __init__(self, client: FlaskClient, email: str, password: str = PASSWORD):
        self.client = client
        response = client.post("/api/v1/auth/token", json={"username": email, "password": password})
        assert response.status_code == 200, response.get_json()
        self.headers = {"Authorization": f"Bearer {response.get_json()['token']}"}

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        if json is not None:
            kwargs["json"] = json
        return self.client.post(f"/api/v1{path}", headers=self.headers, **kwargs)

    def upload(self, case_id: int, kind: str, data: bytes, filename: str = "report.pdf") -> Any:
        return self.client.post(
            f"/api/v1/cases/{case_id}/records",
            headers=self.headers,
            data={"kind": kind, "file": (io.BytesIO(data), filename)},
            content_type="multipart/form-data",
        )
