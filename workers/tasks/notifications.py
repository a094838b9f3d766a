from __future__ import annotations

from celery import shared_task

from board.notifications import services as notifications
from workers.tasks import RETRY, run_delivery


@shared_task(name="notifications.send_email", **RETRY)
def send_email(notification_id: int, outbox_id: int | None = None) -> None:
    run_delivery(outbox_id, lambda: notifications.send_email(notification_id, outbox_id))
