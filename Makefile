# The front door. `make run` and `make test` work on a fresh clone.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint format bench migrate browser wrk clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m board.launch

test: $(STAMP) browser lint
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy board workers

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every bench/*.py (helpers start with _) prints its figures and exits non-zero when it
# misses its budget; each starts its own servers on this machine's PostgreSQL and Redis.
bench: $(STAMP) wrk
	@status=0; for script in bench/[!_]*.py; do $(PY) $$script || status=1; done; exit $$status

migrate: $(STAMP)
	$(VENV)/bin/flask --app board db upgrade

# The browser tests drive Debian's Chromium (no browser downloads here).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; } || { echo "Install Chromium (Debian: apt-get install chromium) for the browser tests"; exit 1; }

# bench/web.py drives gunicorn with wrk (Debian's package).
wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || { echo "Install wrk (Debian: apt-get install wrk) for bench/web.py"; exit 1; }

clean:
	rm -rf $(VENV) instance .pytest_cache
