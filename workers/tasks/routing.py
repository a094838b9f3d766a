from __future__ import annotations

from celery import shared_task

from board.routing import services as routing
from workers.tasks import RETRY, run_delivery


@shared_task(name="routing.route_case", **RETRY)
def route_case(case_id: int, outbox_id: int | None = None) -> None:
    run_delivery(outbox_id, lambda: routing.route_case(case_id, outbox_id))
