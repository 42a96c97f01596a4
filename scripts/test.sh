#!/usr/bin/env bash
# Set up everything the tests need (ffmpeg, icecast2, openssh-server, chromium, test requirements), then run
# the whole suite. Extra arguments go to pytest, e.g. scripts/test.sh -k eventlog
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check --quiet recorder tests bench
exec .venv/bin/python -m pytest "$@"
