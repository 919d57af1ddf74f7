#!/usr/bin/env bash
# Runs the README's test command in Cloud Build, in the Python image pinned by digest in
# cloudbuild.yaml. Gives it what a development machine has: a Python the project accepts, uv,
# make, the Pub/Sub emulator (from Google's apt repository, with a Java runtime), and Redis and
# PostgreSQL on 127.0.0.1 with trust authentication.
set -euo pipefail
cd "$(dirname "$0")/../.."

# First, before anything is installed: this image's Python must satisfy requires-python.
python3 infra/ci/check_python.py

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates curl gnupg >/dev/null
curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg \
  | gpg --dearmor -o /usr/share/keyrings/cloud.google.gpg
echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main" \
  >/etc/apt/sources.list.d/google-cloud-sdk.list
apt-get update -qq
GCLOUD_PIN="${GCLOUD_CLI_VERSION:+=${GCLOUD_CLI_VERSION}-0}"
apt-get install -y -qq --no-install-recommends \
  make git redis-server postgresql openjdk-17-jre-headless \
  "google-cloud-cli${GCLOUD_PIN}" "google-cloud-cli-pubsub-emulator${GCLOUD_PIN}" >/dev/null

python3 -m pip install --quiet --root-user-action=ignore "uv==0.13.9"

redis-server --daemonize yes --bind 127.0.0.1 --port 6379

PG_VERSION="$(ls /etc/postgresql | sort -n | tail -1)"
PG_HBA="/etc/postgresql/${PG_VERSION}/main/pg_hba.conf"
cat >"${PG_HBA}" <<'HBA'
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
pg_ctlcluster "${PG_VERSION}" main start

make test
