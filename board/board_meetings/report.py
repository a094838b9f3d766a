"""The second opinion as a PDF: the same template as the page, rendered by WeasyPrint."""

from __future__ import annotations

from flask import render_template
from weasyprint import HTML

from board.board_meetings.services import SecondOpinion


def second_opinion_pdf(opinion: SecondOpinion) -> bytes:
    html = render_template("board_meetings/second_opinion_document.html", opinion=opinion, pdf=True)
    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]
