#!/usr/bin/env bash
# Shared set-up for ./start.sh and ./test.sh: system packages, the .venv, the project, the UI build.
# Idempotent: each part is skipped when what it would install is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# --- system packages (Debian), listed one per line in scripts/apt-packages.txt ---
install_system_packages() {
  local wanted missing=()
  wanted=$(grep -Ev '^\s*(#|$)' scripts/apt-packages.txt || true)
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing system packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Python virtual environment and the project (editable, with dev tools) ---
install_python() {
  local python=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($python --version)"
    "$python" -m venv .venv
  fi
  local stamp=.venv/.nomaflow-installed sum
  sum=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    log "installing nomaflow and its dependencies into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
    echo "$sum" > "$stamp"
  fi
}

# --- the web UI (built by Vite into engine/server/static): scripts/ui_build.py decides, as the wheel's
# build does, and skips it while the build is up to date or there is no ui/ folder ---
build_ui() {
  [ -f ui/package.json ] || return 0
  .venv/bin/python scripts/ui_build.py "$PWD"
}

install_system_packages
install_python
build_ui
