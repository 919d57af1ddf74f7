#!/usr/bin/env bash
# Runs the README's test command inside Cloud Build's gcloud emulators image, which has the
# Pub/Sub emulator. Gives it what a development machine has: Python 3.11+, uv, make, and Redis
# and PostgreSQL on 127.0.0.1 with trust authentication.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  make git python3 python3-pip redis-server postgresql >/dev/null

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"python3 is {sys.version.split()[0]}; the project needs 3.11 or newer: use a newer gcloud image")
PY

# Debian marks its Python as externally managed; uv is the only thing installed into it.
python3 -m pip install --quiet --break-system-packages "uv==0.13.9"

redis-server --daemonize yes --bind 127.0.0.1 --port 6379

PG_VERSION="$(ls /etc/postgresql | sort -n | tail -1)"
PG_HBA="/etc/postgresql/${PG_VERSION}/main/pg_hba.conf"
cat >"${PG_HBA}" <<'HBA'
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
pg_ctlcluster "${PG_VERSION}" main start

cd "$(dirname "$0")/../.."
make test
