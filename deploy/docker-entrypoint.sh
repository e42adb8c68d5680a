#!/bin/sh
# Entry point of the omicsdm image.
#
# OMICSDM_MIGRATE_ON_START=true  runs `omicsdm db upgrade` before the command (default: off).
# Safe with several replicas starting at once: the migrations take a PostgreSQL advisory lock, so
# one replica migrates while the others wait and then find nothing left to do. In Kubernetes,
# prefer a Job or an init container running `omicsdm db upgrade` and leave this off.
set -eu

case "$(printf '%s' "${OMICSDM_MIGRATE_ON_START:-false}" | tr '[:upper:]' '[:lower:]')" in
  1 | true | yes | on)
    echo "omicsdm-entrypoint: applying database migrations" >&2
    omicsdm db upgrade
    ;;
  0 | false | no | off | "") ;;
  *)
    echo "omicsdm-entrypoint: OMICSDM_MIGRATE_ON_START must be true or false, not '${OMICSDM_MIGRATE_ON_START}'" >&2
    exit 2
    ;;
esac

exec "$@"
