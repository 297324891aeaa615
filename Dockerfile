# syntax=docker/dockerfile:1
# imagegate: the gateway image. Build: docker build -t imagegate .   (not run on the dev machines:
# tests/deploy/test_dockerfile_install.py performs this file's install and entrypoint in a fresh venv.)
#
# Config:  mount the routing YAML and point IMAGEGATE_CONFIG at it (without it: the bundled mock
#          routing, for local trials only; authentication stays ON, for domains derived from
#          --host/--port, so set auth.domains / auth.origins in your own file).
# Secrets: provider keys come from the environment (.env with compose, a Secret on Kubernetes).
# State:   REDIS_URL=redis://host:6379/0 shares replay protection, limits and leases across replicas.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install the package and its dependencies into a self-contained venv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/imagegate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
RUN /opt/imagegate/bin/pip install --no-cache-dir .

# ---- runtime: the venv only, no sources, no build tools, a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 imagegate \
 && useradd --system --uid 10001 --gid imagegate --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin imagegate
COPY --from=build /opt/imagegate /opt/imagegate
ENV PATH=/opt/imagegate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    IMAGEGATE_PORT=8000 \
    IMAGEGATE_WORKERS=1 \
    IMAGEGATE_LOG_LEVEL=info
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
# No curl in the slim image: the probe is a few lines of the interpreter already there.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IMAGEGATE_PORT', '8000'), timeout=2); sys.exit(0 if r.status == 200 else 1)"]
ENTRYPOINT ["imagegate", "serve", "--host", "0.0.0.0"]
