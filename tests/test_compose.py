"""No Docker engine runs here, so docker-compose.yml is proved by reading it: its
services, commands and environment are checked against what the app really reads
(board/config.py) and how `make run` starts it (board/launch.py)."""

from __future__ import annotations

import ast
import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from flask import Flask
from sqlalchemy.engine import make_url

from board.config import load_config

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("migrate", "web", "worker", "beat")
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with nothing set: the default; a required
    `${VAR:?message}` gets a stand-in value; `$$` is a literal dollar."""

    def replace(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if kind and kind.endswith("-"):
            return rest
        return f"<{name}>"

    return _VARIABLE.sub(replace, value).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]  # type: ignore[no-any-return]


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: _interpolate(str(value)) for key, value in raw.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    # The exec form: a list, so nothing depends on how a shell would split it.
    assert isinstance(command, list), command
    return [str(part) for part in command]


def _launch_commands() -> dict[str, list[str]]:
    """The literal arguments of each command board/launch.py (`make run`) starts."""
    tree = ast.parse((ROOT / "board" / "launch.py").read_text())
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Subscript)
            and isinstance(node.targets[0].slice, ast.Constant)
            and isinstance(node.value, ast.List)
        ):
            found[node.targets[0].slice.value] = [
                e.value
                for e in node.value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
    return found


def _option(command: list[str], flag: str) -> str:
    assert flag in command, command
    return command[command.index(flag) + 1]


def test_compose_runs_web_worker_beat_postgres_redis_and_a_one_shot_migration(
    services: dict[str, Any],
) -> None:
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(services)
    assert services["postgres"]["image"].split(":")[1].startswith("16")
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert _command(services["migrate"]) == ["flask", "--app", "board", "db", "upgrade"]
    # A one-shot step must not be restarted once it has exited.
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES:
        assert services[name]["build"] == "."
    assert (ROOT / "Makefile").read_text().count("-m board.launch") == 1


def test_web_runs_gunicorn_on_the_app_factory_that_make_run_serves(
    services: dict[str, Any],
) -> None:
    command = _command(services["web"])
    launch_web = _launch_commands()["web"]
    assert command[0] == "gunicorn"
    assert command[-1] == "board:create_app()" == launch_web[-1]
    # The production settings (bench/web.py measures the same file); its bind's port is
    # the one published.
    assert _option(command, "-c") == "gunicorn.conf.py"
    settings: dict[str, Any] = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), settings)  # our own settings file
    assert settings["worker_class"] == "sync" and settings["workers"] >= 2
    port = settings["bind"].rsplit(":", 1)[1]
    assert f"{port}:{port}" in services["web"]["ports"]
    assert f"127.0.0.1:{port}/api/v1/health" in " ".join(services["web"]["healthcheck"]["test"])


def test_worker_and_beat_load_the_celery_app_exactly_as_make_run_does(
    services: dict[str, Any],
) -> None:
    launch = _launch_commands()
    for name in ("worker", "beat"):
        command = _command(services[name])
        assert command[0] == "celery"
        assert _option(command, "-A") == _option(launch[name], "-A") == "workers.celery_app"
        assert command[command.index("-A") + 2] == name
    assert (ROOT / "workers" / "celery_app.py").is_file()


def test_only_one_beat_runs_so_periodic_tasks_never_run_twice(services: dict[str, Any]) -> None:
    beats = [n for n, s in services.items() if "beat" in s.get("command", [])]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_every_app_service_reaches_the_compose_postgres_and_redis_with_the_psycopg_driver(
    services: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        env = _env(services[name])
        database = make_url(env["DATABASE_URL"])
        assert database.drivername == "postgresql+psycopg", name
        assert database.host in services and services[database.host]["image"].startswith(
            "postgres:"
        )
        assert (database.port or 5432) == 5432
        assert database.database == _env(services["postgres"])["POSTGRES_DB"]
        assert database.username == _env(services["postgres"])["POSTGRES_USER"]
        assert database.password == _env(services["postgres"])["POSTGRES_PASSWORD"]
        # The dialect the app will load exists in this environment.
        assert database.get_dialect().driver == "psycopg"

        broker = urlsplit(env["REDIS_URL"])
        assert broker.scheme == "redis", name
        assert broker.hostname in services
        assert services[broker.hostname]["image"].startswith("redis:")
        assert (broker.port or 6379) == 6379


def test_every_environment_variable_is_one_the_config_reads(
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known = set(load_config())
    for name in APP_SERVICES:
        env = _env(services[name])
        for key in env:
            assert key in ("DATABASE_URL", "REDIS_URL") or (
                key.startswith("FLASK_") and key.removeprefix("FLASK_") in known
            ), f"{name}: {key} is not read by board/config.py"

        # And the values land where the app looks for them.
        for key in [k for k in os.environ if k.startswith("FLASK_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        config = load_config()
        assert config["SQLALCHEMY_DATABASE_URI"] == env["DATABASE_URL"]
        assert config["CELERY"]["broker_url"] == env["REDIS_URL"]
        assert config["OUTBOX_PUBLISH_ON_COMMIT"] is True
        assert config["SECRET_KEY"] == "<SECRET_KEY>"  # required: no default secret
        assert config["MAIL_SERVER"] == "mail" and config["MAIL_PORT"] == 1025
        assert config["MAIL_SERVER"] in services


def test_app_services_start_only_after_healthy_databases_and_a_finished_migration(
    services: dict[str, Any],
) -> None:
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name


def test_the_image_holds_everything_create_app_reads_beside_the_package(app: Flask) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM python:(\d+)\.(\d+)", dockerfile, re.MULTILINE)
    assert base is not None
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and (int(base[1]), int(base[2])) >= (3, 11)
    # board/config.py finds templates/ and migrations/ beside the package.
    for folder in ("board", "workers", "migrations", "templates"):
        assert re.search(rf"^COPY {folder} \./{folder}$", dockerfile, re.MULTILINE), folder
    assert re.search(r"^COPY gunicorn\.conf\.py \./$", dockerfile, re.MULTILINE)
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "board:create_app()"]' in dockerfile
    assert "USER board" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "instance" in ignored
    # The web healthcheck asks a route that exists.
    assert "/api/v1/health" in {rule.rule for rule in app.url_map.iter_rules()}
