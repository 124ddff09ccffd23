#!/usr/bin/env bash
# Installs dependencies, builds, and runs tcpq_exporter on :9715 (as root, so
# it can read every network namespace). Extra arguments go to the exporter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
exec build/tcpq_exporter "$@"
