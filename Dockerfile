# syntax=docker/dockerfile:1
# One image for casserver, cacheserver and loadclient; the command picks the program:
#   docker run cas-harness casserver | cacheserver | loadclient run ...
# The build stage installs the project into a virtualenv; the final stage copies only
# that virtualenv, so pip's caches and any build dependencies never reach it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/cas
WORKDIR /src
# README.md is the distribution's long description; pyproject.toml refers to it.
# constraints.txt: the tested versions (scripts/lock), so the image runs what CI ran.
COPY pyproject.toml README.md constraints.txt ./
COPY cascommon ./cascommon
COPY casserver ./casserver
COPY cacheserver ./cacheserver
COPY loadclient ./loadclient
# Every dependency ships manylinux wheels for CPython 3.11, so no compiler is needed;
# --only-binary keeps it that way instead of silently building from source.
RUN /opt/cas/bin/pip install --only-binary=:all: --no-binary=cas-harness -c constraints.txt . \
    && /opt/cas/bin/python -m compileall -q /opt/cas/lib

FROM ${PYTHON_IMAGE}
# tini is PID 1: it forwards SIGTERM to the program and reaps zombies, so
# `docker stop` and pod termination are prompt for all three programs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cas \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin cas \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/cas /opt/cas
ENV PATH=/opt/cas/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAS_STORAGE_DIR=/data
WORKDIR /data
# Numeric so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# casserver 5000; cacheserver 18001 for clients, 18002 for its peers.
EXPOSE 5000 18001 18002
# No HEALTHCHECK: one image runs three programs on different ports (and one of them is
# a batch job), so compose healthchecks and Kubernetes probes say what healthy means.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["casserver"]
