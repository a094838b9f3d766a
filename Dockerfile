# One image for every role of the production-shaped stack (docker-compose.yml):
# web (gunicorn), worker and beat (Celery) and the one-shot migrate step.
FROM python:3.11-slim-bookworm

# WeasyPrint draws the second-opinion PDF through Pango; DejaVu gives it glyphs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# PYTHONPATH: the app finds templates/ and migrations/ beside its package
# (board/config.py, PROJECT_ROOT), so it runs from the source tree in /app rather
# than from site-packages; only the dependencies are pip-installed.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

# The pinned dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY board ./board
COPY workers ./workers
COPY migrations ./migrations
COPY templates ./templates
COPY gunicorn.conf.py ./

# Never root: instance/ (create_app makes it; beat keeps its schedule there) and the
# records volume (docker-compose.yml) are the only places the app writes.
RUN useradd --system --uid 10001 --home-dir /app board \
    && mkdir -p /app/instance /var/lib/board/records \
    && chown board /app/instance \
    && chown board /var/lib/board/records && chmod 700 /var/lib/board/records
USER board

EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "board:create_app()"]
