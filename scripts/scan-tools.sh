#!/usr/bin/env bash
# Installs the pinned scan tools (uploader/scan-tools/requirements.txt: Bandit and
# detect-secrets from PyPI, every dependency pinned with its sha256) into a venv,
# target/scan-venv by default (or $1), with the python3 on PATH; nothing happens when the
# venv already holds exactly that lock. `--require-hashes --no-deps --only-binary :all:`:
# pip installs only the locked wheels (nothing unpinned, no setup.py run), then `pip check`
# proves the lock is complete.
# Authors reproduce the service's findings with the same venv: `uploader check --scan`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/target/scan-venv}"
req="$root/uploader/scan-tools/requirements.txt"
stamp="$venv/.requirements"
if [ -x "$venv/bin/bandit" ] && [ -x "$venv/bin/detect-secrets" ] && cmp -s "$req" "$stamp"; then
    exit 0
fi
echo "scan-tools: installing $(grep -o '^[A-Za-z][^ ]*==[^ ]*' "$req" | tr '\n' ' ')into $venv" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
    --only-binary :all: -r "$req"
"$venv/bin/pip" check --disable-pip-version-check >&2
cp "$req" "$stamp"
