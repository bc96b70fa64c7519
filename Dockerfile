# digestbot's container image: `docker build -t digestbot .`, then `docker run … digestbot run`.
# Slim Python, the package installed with pip (no source tree, no compilers left behind), a non-root user.
# The image has no HEALTHCHECK of its own: one-shot commands (post, ingest, db copy) run from it too.
# `run` with its ops port on (ops.port / --ops-port) is checked through /healthz: see docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY digestbot ./digestbot
COPY adapters ./adapters
RUN pip install . \
    && rm -rf /src \
    && useradd --system --uid 10001 --user-group --home-dir /data --create-home --shell /usr/sbin/nologin digestbot

# State (an SQLite file, when no PostgreSQL URL is given) lives in /data, owned by the bot's user.
USER digestbot
WORKDIR /data
VOLUME ["/data"]
# The ops port (/healthz, /metrics) when the config sets ops.port: 9090 and ops.host: 0.0.0.0.
EXPOSE 9090

# SIGTERM (docker stop) ends `run` cleanly: posts in flight finish or resume on the next start.
STOPSIGNAL SIGTERM
ENTRYPOINT ["digestbot"]
CMD ["run"]
