#!/usr/bin/env bash
# Installs the pinned scan tools (uploader/scan-tools/requirements.txt: Bandit and
# detect-secrets from PyPI) into a venv, target/scan-venv by default (or $1), with the
# python3 on PATH; nothing happens when the venv already holds exactly those versions.
# Authors reproduce the service's findings with the same venv: `uploader check --scan`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/target/scan-venv}"
req="$root/uploader/scan-tools/requirements.txt"
stamp="$venv/.requirements"
if [ -x "$venv/bin/bandit" ] && [ -x "$venv/bin/detect-secrets" ] && cmp -s "$req" "$stamp"; then
    exit 0
fi
echo "scan-tools: installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
