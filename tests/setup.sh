#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian or Ubuntu machine: the lab in .venv (../setup.sh),
# the test packages, and Debian's chromium for the browser tests (Playwright drives it; it never
# downloads a browser of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
bash setup.sh
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt
