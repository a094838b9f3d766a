"""The S3 record store configured as production configures it: environment variables
(FLASK_RECORDS_STORE=s3, FLASK_RECORDS_S3_*) read by a real gunicorn and by the `flask
records verify` command in processes of their own, against a real S3-compatible server
(moto_server). An upload over HTTP lands in the bucket sealed, downloads intact, and the
sweep finds it, then finds it gone."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from board.auth.roles import Role
from tests.support import factories as f
from tests.support.api import HttpApi
from tests.support.processes import BIN, ROOT, service_env, start_web
from tests.support.s3 import S3Raw, S3Server


@pytest.fixture
def s3_env(app, s3_server: S3Server) -> Iterator[dict[str, str]]:
    raw = S3Raw(s3_server, app.config)
    raw.clear()
    env = service_env(
        mail_port=1, **{f"FLASK_{key}": value for key, value in s3_server.config().items()}
    )
    yield env
    raw.clear()


def _verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "board", "records", "verify"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gunicorn_and_the_cli_keep_records_in_the_bucket_named_by_the_environment(
    app, s3_server: S3Server, s3_env: dict[str, str], tmp_path: Path
):
    with app.app_context():
        referrer = f.person(Role.REFERRER, f.institution("Riverside Oncology"))
    web, base = start_web(s3_env, tmp_path)
    try:
        api = HttpApi(base, referrer.email)
        case_id = api.post("/cases", f.case_body()).json()["id"]
        data = f.pdf("Core biopsy, stored in S3")
        uploaded = api.upload(case_id, "pathology_report", data)
        assert uploaded.status_code == 201, uploaded.text
        record_id = uploaded.json()["id"]

        raw = S3Raw(s3_server, app.config)
        (key,) = raw.keys()
        sealed = raw.read(key)
        assert data not in sealed and b"%PDF" not in sealed
        assert api.get(f"/records/{record_id}").content == data

        checked = _verify(s3_env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "records checked: 1\nmissing (no file): 0\n" in checked.stdout

        raw.remove(key)
        assert api.get(f"/records/{record_id}").status_code == 500
        checked = _verify(s3_env)
        assert checked.returncode == 1
        assert f"missing (no file): 1\n  record {record_id}\n" in checked.stdout
    finally:
        web.stop()
