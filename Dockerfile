# digestbot's container image: `docker build -t digestbot .`, then `docker run … digestbot run`.
# Slim Python, the package installed with pip into a venv (no source tree, no compilers left behind),
# a non-root user. The image has no HEALTHCHECK of its own: one-shot commands (post, ingest, db copy)
# run from it too. `run` with its ops port on (ops.port / --ops-port) is checked through /healthz:
# see docker-compose.yml.
#
# The base is a build argument so that a machine without registry access can substitute a local one
# (docker/offline/: a Debian bookworm root filesystem with python3 + python3-venv, `docker import`ed).
# Both bases work because everything goes into the venv at /opt/venv: the official image's Python
# and Debian's (whose system pip refuses installs, PEP 668) alike. `pip install .` needs PyPI; give
# PIP_INDEX_URL (and the standard HTTP_PROXY/HTTPS_PROXY build args) when it must go through a mirror.
ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}

# pip reads PIP_INDEX_URL from the environment (a build argument is one while RUN runs).
ARG PIP_INDEX_URL
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY digestbot ./digestbot
COPY adapters ./adapters
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install . \
    && cd / && rm -rf /src \
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
