#!/usr/bin/env bash
# Creates the virtual environment .venv and installs the lab into it: requirements.txt and the
# `digits` command (an editable install of this folder). A virtual environment because Debian 12
# and Ubuntu 24.04 refuse `pip install` into the system Python (PEP 668); their venv module needs
# the python3-venv package, installed here when it is missing. --system-site-packages: packages
# already installed for this Python are reused instead of downloaded again.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv --system-site-packages .venv >/dev/null 2>&1; then
    rm -rf .venv  # "ensurepip is not available": Debian and Ubuntu ship it as python3-venv
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv --system-site-packages .venv
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -e .
