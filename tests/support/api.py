"""A small JSON API client over Flask's test client (or any requests-like session)."""

from __future__ import annotations

import io
import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import PASSWORD, otp


def _csrf(client: FlaskClient, path: str) -> dict[str, str]:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    return {"csrf_token": match.group(1)} if match else {}


def sign_in(
    client: FlaskClient,
    email: str,
    password: str = PASSWORD,
    *,
    next: str | None = None,
    csrf: bool = False,
) -> TestResponse:
    """Signs a Flask test client in through the pages: the password, then the second
    factor's code when the account has one (every account of factories.user()).
    Returns the last response: a 302 to the role's page (or `next`) when it worked.
    With csrf=True each form's token is read from its page first (an app with CSRF on)."""
    login = "/login" + (f"?next={next}" if next else "")
    data = {"email": email, "password": password, **(_csrf(client, login) if csrf else {})}
    response = client.post(login, data=data)
    if response.status_code == 303 and response.headers["Location"].endswith("/login/code"):
        code = {"code": otp(email), **(_csrf(client, "/login/code") if csrf else {})}
        response = client.post("/login/code", data=code)
    return response


class Api:
    def __init__(self, client: FlaskClient, email: str, password: str = PASSWORD):
        self.client = client
        response = client.post(
            "/api/v1/auth/token", json={"username": email, "password": password, "otp": otp(email)}
        )
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


class HttpApi:
    """The same calls over real HTTP, against a running server."""

    def __init__(self, base_url: str, email: str, password: str = PASSWORD):
        import requests

        self.base = f"{base_url}/api/v1"
        self.session = requests.Session()
        response = self.session.post(
            f"{self.base}/auth/token",
            json={"username": email, "password": password, "otp": otp(email)},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        self.session.headers["Authorization"] = f"Bearer {response.json()['token']}"

    def get(self, path: str) -> Any:
        return self.session.get(f"{self.base}{path}", timeout=30)

    def post(self, path: str, json: Any = None) -> Any:
        return self.session.post(f"{self.base}{path}", json=json, timeout=30)

    def upload(self, case_id: int, kind: str, data: bytes, filename: str = "report.pdf") -> Any:
        return self.session.post(
            f"{self.base}/cases/{case_id}/records",
            data={"kind": kind},
            files={"file": (filename, data, "application/pdf")},
            timeout=30,
        )
