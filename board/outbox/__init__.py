"""Transactional outbox: a state change and the task it causes commit together.

Services call `enqueue()` inside their transaction. Right after the commit the
committing process publishes (a session event, `publish_now`); the worker's relay thread publishes
whatever is still pending and the sweeper republishes what was published but
never finished. Tasks are idempotent, so a message delivered twice is harmless.
"""

from board.outbox import services as services
