"""`flask --app board audit verify`: is the audit trail's hash chain intact?"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from board.audit import services

audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def verify_command() -> None:
    """Checks every audit row's hash and its link to the row before it. Exit status 0
    when intact (prints the count and the head, to note somewhere else: removing the
    newest rows leaves an intact but shorter chain, which only a noted head reveals);
    1 with the first broken row's id and why."""
    verdict = services.verify()
    if verdict.broken is not None:
        click.echo(
            f"audit chain BROKEN at row {verdict.broken.row_id}: {verdict.broken.reason} "
            f"({verdict.rows} rows before it are intact)",
            err=True,
        )
        raise SystemExit(1)
    head = f"; head row {verdict.head_id} {verdict.head_hash}" if verdict.head_id else ""
    click.echo(f"audit chain intact: {verdict.rows} rows{head}")
