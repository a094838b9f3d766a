from __future__ import annotations

from celery import shared_task

from board.reviews import clock_service


# No retries: beat sends the next tick within CLOCK_INTERVAL_SECONDS, and that tick is
# the retry (a retried tick would only race it). Idempotent: see clock_service.
@shared_task(name="reviews.run_clock")
def run_clock() -> None:
    clock_service.run_clock()
