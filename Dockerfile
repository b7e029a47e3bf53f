FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    VIDEO_DIR=/data/videos

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install . \
    && useradd --create-home --uid 10001 grokbot \
    && mkdir -p /data \
    && chown grokbot:grokbot /data

USER grokbot
# The database and downloaded videos live here: mount a volume so they survive container rebuilds.
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
