"""The web server's production settings, in one place:

    gunicorn -c gunicorn.conf.py 'board:create_app()'

used by the Dockerfile, docker-compose.yml's `web` service and bench/web.py (which
measures the board and the framework's ceiling under exactly these settings).

- Sync workers: every request runs one database transaction at a time and the
  pages are CPU-bound Python (bench/README.md, web.py); threads would share one
  interpreter lock, and async workers would not make SQLAlchemy's blocking calls
  overlap. WEB_CONCURRENCY sets how many (gunicorn reads it too); the default, 3,
  is one more than this project's 2 cores, so a worker waiting on PostgreSQL leaves
  a core to another (measured in bench/README.md).
- The app is loaded in each worker, not in the master (no preload): database and
  Redis connections are never shared across a fork.
- Access log to stdout, for the container's log collector. Its request line holds
  the path and query string: ids and filters (the GET forms filter the audit trail
  and the analytics by dates and actions), never patient data, which is only ever
  POSTed.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "sync"
# A request that hangs (a database that stopped answering) is killed and logged
# instead of holding a worker for ever.
timeout = 60
accesslog = "-"
