#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: the Python packages, and Debian's
# chromium for the browser tests (Playwright drives it; it never downloads a browser of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -r requirements-test.txt
