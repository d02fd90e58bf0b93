# CPU image of the daemon. `docker run IMAGE` replays the bundled demo;
# `docker run IMAGE report --json` and friends review it. Mount a volume on
# /app/state to keep the database and models between runs.
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
 && mkdir -p state \
 && chown bot:bot state
USER bot

VOLUME ["/app/state"]
ENTRYPOINT ["bot"]
CMD ["run"]
