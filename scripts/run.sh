#!/usr/bin/env bash
# Set up what is missing (ffmpeg, a virtualenv with the pinned requirements), then run the recorder in the
# foreground on :8666 with its state in ./state. Settings come from the environment (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m recorder serve "$@"
