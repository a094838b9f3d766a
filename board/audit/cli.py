"""`flask --app board audit verify` (is the hash chain intact?) and `audit chain` (link
the rows the chainer has not reached yet, e.g. while no worker runs)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from board.audit import services
from board.db import utcnow

audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def verify_command() -> None:
    """Checks every row of the chain (its event's hash, its link to the row before it)
    and that every audit event is in the chain or waiting for the chainer. Exit status 0
    when intact (prints the count and the head, to note somewhere else: removing the
    newest rows leaves an intact but shorter chain, which only a noted head reveals);
    1 with the first broken row and why."""
    verdict, pending = services.verify()
    if verdict.broken is not None:
        click.echo(
            f"audit chain BROKEN at row {verdict.broken.row}: {verdict.broken.reason} "
            f"({verdict.rows} rows before it are intact)",
            err=True,
        )
        raise SystemExit(1)
    head = f"; head row {verdict.head_row} {verdict.head_hash}" if verdict.head_row else ""
    click.echo(f"audit chain intact: {verdict.rows} rows{head}")
    if pending.rows and pending.oldest_at is not None:
        age = (utcnow() - pending.oldest_at).total_seconds()
        click.echo(
            f"{pending.rows} newer audit rows are not chained yet (the oldest {age:.0f} s "
            "old): the chainer runs in every Celery worker; `flask --app board audit chain` "
            "links them now"
        )


@audit_cli.command("chain")
def chain_command() -> None:
    """Links every committed audit row that is not in the chain yet."""
    click.echo(f"chained {services.chain_all()} audit rows")
