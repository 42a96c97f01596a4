# The image runs the same setup script as the README's commands (and CI, through scripts/test.sh), so what CI
# tests is what the image runs. Bookworm, not trixie: its tzdata still knows the legacy zone names (US/Central)
# that trixie moved to tzdata-legacy, and a schedule's timezone may use one.
FROM python:3.11-slim-bookworm

WORKDIR /app
# setup.sh installs Debian's ffmpeg with apt (unpinned on purpose: a pinned version disappears from the mirror
# with the next Debian security update and the build breaks) and a .venv with the pinned requirements.txt.
COPY requirements.txt ./
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/* /root/.cache

COPY recorder/ recorder/
COPY views/ views/
COPY static/ static/

# The original image's volumes keep working: each state folder is its own mount point (backups live in data).
ENV STATE_DIR=/app/data \
    RECORDINGS_DIR=/app/recordings \
    LOGS_DIR=/app/logs \
    ARTWORK_DIR=/app/artwork \
    CONFIG_DIR=/app/config \
    BACKUPS_DIR=/app/data/backups \
    PYTHONUNBUFFERED=1
# A fixed numeric uid/gid (1000, the usual first user on a host) so bind-mounted folders can be chowned to it.
RUN groupadd --gid 1000 recorder \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /app --shell /usr/sbin/nologin recorder \
    && mkdir -p /app/data /app/recordings /app/logs /app/artwork /app/config \
    && chown 1000:1000 /app/data /app/recordings /app/logs /app/artwork /app/config
USER 1000:1000
VOLUME ["/app/data", "/app/recordings", "/app/logs", "/app/artwork", "/app/config"]
EXPOSE 8666
# /health answers 503 once the event log stops taking writes, so an unhealthy container can be restarted.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('WEB_PORT', '8666'), timeout=5)"]
CMD ["/app/.venv/bin/python", "-m", "recorder", "serve"]
