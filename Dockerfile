# CPU image of the daemon. `docker run IMAGE` replays the bundled demo;
# `docker run IMAGE report --json` and friends review it; `serve` is the
# dashboard and API. Mount a volume on /app/state to keep the database and
# models between runs; reports go to /app/reports. docker-compose.yml runs
# the daemon and the dashboard side by side. No test tools are installed:
# requirements.txt holds the daemon's packages only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The CPU build of torch from PyTorch's own index first: from PyPI the same
# version would pull gigabytes of CUDA libraries. The pinned set follows;
# torch==2.13.0 in it is already satisfied by 2.13.0+cpu.
COPY requirements.txt ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements.txt

COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-deps .

COPY config.yaml ./
COPY strategies ./strategies
COPY data ./data

RUN useradd --create-home --uid 10001 bot \
 && mkdir -p state reports \
 && chown bot:bot state reports
USER bot

# Healthy while the newest bar is fresh: /api/v1/health answers 503 once the
# daemon stops stepping. It needs `bot serve` in the container: the
# dashboard service, or the daemon with BOT__API__ENABLED=true.
HEALTHCHECK --interval=60s --timeout=10s --start-period=10m --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BOT__API__PORT', '8080') + '/api/v1/health', timeout=8)"

VOLUME ["/app/state", "/app/reports"]
EXPOSE 8080
ENTRYPOINT ["bot"]
CMD ["run"]
