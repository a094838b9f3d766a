"""`flask --app board records ...`: the sweep, the migration into the store, a new key."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from board.records import crypto

records_cli = AppGroup("records", help="Record files: verify, migrate, new key.")


@records_cli.command("verify")
@click.option(
    "--keep-orphans",
    is_flag=True,
    help="Report files no record points at instead of removing those past the grace period.",
)
def verify_command(keep_orphans: bool) -> None:
    """Decrypt every record and check its SHA-256; find files no record points at.

    Exits 1 when a record's file is missing or corrupt (or, with --keep-orphans, when
    an old orphan is left). Orphans younger than RECORDS_ORPHAN_GRACE_SECONDS may be
    uploads still committing: reported, left alone."""
    from board.records.services import verify

    report = verify(remove_orphans=not keep_orphans)
    click.echo(f"records checked: {report.checked}")
    for label, items in (
        ("missing (no file)", report.missing),
        ("corrupt (fails decryption or SHA-256)", report.corrupt),
        ("orphan files removed", report.orphans_removed),
        ("orphan files kept", report.orphans_kept),
        ("recent files without a record (left alone)", report.orphans_recent),
    ):
        click.echo(f"{label}: {len(items)}")
        for item in items:
            click.echo(f"  {'record ' if isinstance(item, int) else ''}{item}")
    click.echo("OK" if report.ok else "PROBLEMS FOUND")
    sys.exit(0 if report.ok else 1)


@records_cli.command("migrate")
def migrate_command() -> None:
    """Move every record into the encrypted store under the current key: rows whose
    bytes are still in the database (earlier versions) and rows sealed by a retired
    key. Safe to run again; exits 1 if a record could not be read."""
    from board.records.services import migrate

    report = migrate()
    click.echo(
        f"moved from the database: {len(report.moved)}; re-sealed under the current key: "
        f"{len(report.resealed)}; unreadable: {len(report.failed)}"
    )
    for record_id in report.failed:
        click.echo(f"  record {record_id} could not be read (see `flask records verify`)")
    sys.exit(1 if report.failed else 0)


@records_cli.command("new-key")
def new_key_command() -> None:
    """Print a new random records key (base64 of 32 bytes) for your secret store."""
    click.echo(crypto.new_key_text())


def register(app: Flask) -> None:
    app.cli.add_command(records_cli)
