# grok-video-bot. Builds from any Debian-based image with Python 3.11+ and its venv module:
#   docker build -t grok-video-bot .                                   (python:3.11-slim)
#   docker build --build-arg BASE_IMAGE=python:3.12-slim -t grok-video-bot .
# Layers, least often changed first: a venv and the user; the locked dependencies (rebuilt only when
# pyproject.toml or requirements.lock change); the bot's own code, installed without dependencies.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# Everything is installed in /opt/venv, owned by root: the same on python:*-slim and on a distribution's
# python3 (whose system pip refuses to install, PEP 668). /data is the only place the bot writes.
RUN python3 -m venv /opt/venv \
    && groupadd --gid 10001 grokbot \
    && useradd --create-home --uid 10001 --gid 10001 grokbot \
    && mkdir -p /data \
    && chown grokbot:grokbot /data
WORKDIR /app
# Only what decides the dependencies: a change to the code leaves this layer cached.
COPY pyproject.toml requirements.lock ./
# pyproject's dependencies at the lock's exact versions (the lock is a constraints file: a package another
# Python needs and the lock does not list, such as audioop-lts on 3.13, is still installed).
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /tmp/dependencies.txt \
    && pip install -r /tmp/dependencies.txt -c requirements.lock \
    && rm /tmp/dependencies.txt

# The bot's code as a wheel, in a stage of its own: its sources and build files never reach the image.
FROM deps AS wheel
COPY README.md /src/
COPY pyproject.toml /src/
COPY bot /src/bot
COPY cogs /src/cogs
RUN pip wheel --no-deps --wheel-dir /wheels /src

FROM deps
# (Copied, not bind-mounted with RUN --mount: buildah 1.28 reused a cached install after the wheel changed.
# The ~100 kB wheel stays in this COPY layer's history, not in the file system.)
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-deps /tmp/wheels/*.whl \
    && rm -r /tmp/wheels
# The database and downloaded videos live in /data: mount a volume so they survive rebuilds.
# HEALTH_PORT turns on the bot's /healthz endpoint (on HEALTH_HOST, 127.0.0.1 by default) for HEALTHCHECK.
ENV DATABASE_PATH=/data/bot.sqlite3 \
    VIDEO_DIR=/data/videos \
    HEALTH_PORT=8080
# numeric, so a runtime that checks for a non-root user (runAsNonRoot) can tell without /etc/passwd
USER 10001:10001
VOLUME ["/data"]
# Python's urllib, since slim images have no curl: any error or HTTP status >= 400 fails the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['HEALTH_PORT'] + '/healthz', timeout=4)"]
CMD ["python", "-m", "bot"]
