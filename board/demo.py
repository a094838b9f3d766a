"""Demo data for `make run`: one account per role and a few cases in different statuses."""

from __future__ import annotations

import click
from flask import Flask


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--password", envvar="DEMO_PASSWORD", default="demo-board-2026")
    def seed_demo(password: str) -> None:
        """Create demo accounts and cases once (does nothing if they exist)."""
        from board.demo_seed import seed

        created = seed(password)
        click.echo("demo data created" if created else "demo data already present")
