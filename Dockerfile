# syntax=docker/dockerfile:1
#
# The omicsdm service with its web frontend, in one image.
#
#   docker build -t omicsdm .
#   docker run --env-file omicsdm.env -p 8000:8000 omicsdm              # omicsdm serve (2 workers)
#   docker run --env-file omicsdm.env omicsdm omicsdm db upgrade        # migrate, then exit
#   docker run --env-file omicsdm.env omicsdm omicsdm janitor           # one janitor pass
#
# All settings are OMICSDM_* environment variables (README.md, "Configuration"); the image adds
# OMICSDM_MIGRATE_ON_START=true|false (deploy/docker-entrypoint.sh). See docs/operations.md.

ARG NODE_IMAGE=node:20-slim
ARG PYTHON_IMAGE=python:3.11-slim

# ---- 1. The web frontend (Vite build into frontend/dist) ----------------------------------------
FROM ${NODE_IMAGE} AS frontend
WORKDIR /src/frontend
# Dependencies first, so this layer is rebuilt only when the lockfile changes. `npm ci` runs the
# postinstall hook scripts/patch-evaporate.mjs (EvaporateJS 2.1.4 signs the Host header without its
# port); without it every browser upload to an S3 endpoint on a non-default port would fail.
COPY frontend/package.json frontend/package-lock.json ./
COPY frontend/scripts/ ./scripts/
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# ---- 2. The Python package, installed (not editable) into a virtual environment -----------------
FROM ${PYTHON_IMAGE} AS python-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ ./src/
COPY client/ ./client/
# Two distributions: omicsdm-client (the command's client side, client/) and the service, which needs it.
RUN pip install ./client .

# ---- 3. Runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="omicsdm" \
      org.opencontainers.image.description="File store of an omics data warehouse: browser multipart uploads straight to S3, versioned, soft-deleted, presigned downloads" \
      org.opencontainers.image.licenses="Apache-2.0"

# OMICSDM_FRONTEND_DIST: an installed package cannot find frontend/dist beside its source tree.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    OMICSDM_FRONTEND_DIST=/app/frontend/dist \
    OMICSDM_MIGRATE_ON_START=false

RUN groupadd --system --gid 10001 omicsdm \
 && useradd --system --uid 10001 --gid omicsdm --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin omicsdm

COPY --from=python-build /opt/venv /opt/venv

# The working directory matters: `omicsdm db upgrade` finds the migrations in ./alembic
# (src/omicsdm/db/migrate.py looks beside the source tree first, then in the working directory).
WORKDIR /app
COPY alembic.ini ./
COPY alembic/ ./alembic/
COPY --from=frontend /src/frontend/dist/ ./frontend/dist/
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/omicsdm-entrypoint

# Everything above is owned by root and read-only for the service: it writes nothing locally
# (a read-only root filesystem works).
USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz answers while the process runs). Readiness, which checks PostgreSQL and
# the bucket, is /readyz: use it for load balancers and Kubernetes readiness probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["omicsdm-entrypoint"]
CMD ["omicsdm", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
