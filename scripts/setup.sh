#!/usr/bin/env bash
# Installs what is missing, idempotently: Debian packages and a virtualenv with the pinned requirements.
#   scripts/setup.sh          what the app needs (ffmpeg)
#   scripts/setup.sh --test   plus what the tests need (icecast2, openssh-server, chromium, test requirements)
# Quick when everything is already there: it checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-app}
packages=(ffmpeg)
requirements=requirements.txt
if [ "$mode" = "--test" ]; then
  packages+=(icecast2 openssh-server openssh-client chromium)
  requirements=requirements-test.txt
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  packages+=(python3-venv)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
# Reinstall only when the requirement files changed since the last successful install.
stamp=.venv/.requirements-$(cat requirements*.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp-test" ] && { [ "$mode" = "--test" ] || [ ! -f "$stamp-app" ]; }; then
  echo "setup: installing Python packages from $requirements"
  # (grep drops pip's harmless notes about find-links folders this machine does not have)
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements" 2>&1 \
    | { grep -v "^WARNING: Location .* is ignored" || true; }
  touch "$stamp-${mode#--}"
fi
