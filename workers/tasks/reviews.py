from __future__ import annotations

from celery import shared_task

from board.reviews import services as reviews
from workers.tasks import RETRY


@shared_task(name="reviews.flag_overdue", **RETRY)
def flag_overdue() -> None:
    reviews.flag_overdue()
