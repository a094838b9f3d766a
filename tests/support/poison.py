"""A test-only poison task: every delivery kills the process that runs it, as a
segfault in a C extension or the kernel's OOM killer would.

Loaded into a real worker with `celery -A workers.celery_app worker -I tests.support.poison`
(see tests/workers/test_fault_tolerance.py); production code never imports it. The
work appends a line to the file named by POISON_LOG_ENV before dying, so the test
can count how many times it really started.
"""

from __future__ import annotations

import os
import signal

from celery import shared_task

from workers.tasks import run_delivery

POISON_TASK = "tests.poison"
POISON_LOG_ENV = "BOARD_TEST_POISON_LOG"
# "pool_child": only the prefork child dies; "whole_worker": its whole process group.
POISON_KILLS_ENV = "BOARD_TEST_POISON_KILLS"


@shared_task(name=POISON_TASK)
def poison(case_id: int, outbox_id: int | None = None) -> None:
    run_delivery(outbox_id, lambda: _die(case_id))


def _die(case_id: int) -> None:
    with open(os.environ[POISON_LOG_ENV], "a") as log:
        log.write(f"pid {os.getpid()} case {case_id}\n")
        log.flush()
        os.fsync(log.fileno())
    if os.environ.get(POISON_KILLS_ENV) == "whole_worker":
        os.killpg(os.getpgid(0), signal.SIGKILL)
    os._exit(70)
