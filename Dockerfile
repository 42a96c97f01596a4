# The image runs the same setup script as the README's commands, so what CI tests is what the image runs.
FROM python:3.11-slim-bookworm

WORKDIR /app
COPY requirements.txt requirements-test.txt ./
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/* /root/.cache

COPY recorder/ recorder/
COPY views/ views/
COPY static/ static/

# The original image's volumes keep working: each state folder is its own mount point.
ENV STATE_DIR=/app/data \
    RECORDINGS_DIR=/app/recordings \
    LOGS_DIR=/app/logs \
    ARTWORK_DIR=/app/artwork \
    CONFIG_DIR=/app/config \
    BACKUPS_DIR=/app/data/backups \
    WEB_PORT=8666 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 1000 --home-dir /app --shell /usr/sbin/nologin recorder \
    && mkdir -p /app/data /app/recordings /app/logs /app/artwork /app/config \
    && chown recorder /app/data /app/recordings /app/logs /app/artwork /app/config
USER recorder
VOLUME ["/app/data", "/app/recordings", "/app/logs", "/app/artwork", "/app/config"]
EXPOSE 8666
HEALTHCHECK --interval=30s --timeout=10s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('WEB_PORT', '8666'), timeout=5)"]
CMD ["/app/.venv/bin/python", "-m", "recorder", "serve"]
