#!/usr/bin/env bash
# `make serve`: the whole system on http://127.0.0.1:8080/ in the foreground, until Ctrl-C.
#
# Installs nginx if missing, builds the release binaries, seeds the demo catalog on the
# first run, generates the site, starts the upload service (once `uploader serve` exists)
# and runs nginx with the rendered configuration.
#
# Settings (environment): PORT (8080), UPLOADER_PORT (8081), HOST (127.0.0.1),
# PLUGINS_DATA_DIR (data), PLUGINS_SITE_DIR (site), PLUGINS_TEMPLATES_DIR (templates),
# PLUGINS_BASE_URL (http://HOST:PORT), NGINX_RUNTIME_DIR (target/nginx: config, pid, logs),
# PLUGINS_COUNT_INTERVAL (60 s between download counting passes), PLUGINS_STATS_REFRESH
# (600 s at least between rebuilds for new counts).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8080}"
UPLOADER_PORT="${UPLOADER_PORT:-8081}"
export PLUGINS_DATA_DIR="${PLUGINS_DATA_DIR:-data}"
export PLUGINS_SITE_DIR="${PLUGINS_SITE_DIR:-site}"
export PLUGINS_TEMPLATES_DIR="${PLUGINS_TEMPLATES_DIR:-templates}"
export PLUGINS_BASE_URL="${PLUGINS_BASE_URL:-http://$HOST:$PORT}"
export PLUGINS_UPLOADER_LISTEN="127.0.0.1:$UPLOADER_PORT"
runtime="${NGINX_RUNTIME_DIR:-target/nginx}"

say() { echo "serve: $*" >&2; }

scripts/ensure-deps.sh serve
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

say "building release binaries"
cargo build --release -p generator -p uploader

target/release/generator demo --data "$PLUGINS_DATA_DIR" --if-empty
say "generating the site into $PLUGINS_SITE_DIR/ for $PLUGINS_BASE_URL"
target/release/generator build

conf="$(nginx/render.sh --prefix "$runtime" --site-root "$PLUGINS_SITE_DIR/current" \
    --listen "$HOST:$PORT" --uploader "127.0.0.1:$UPLOADER_PORT" --daemon off \
    --data-root "$PLUGINS_DATA_DIR")"
runtime="$(cd "$runtime" && pwd)"
# The service counts downloads from the log nginx writes (README, Downloads).
export PLUGINS_DOWNLOADS_LOG="$runtime/logs/downloads.log"
"$nginx_bin" -t -q -p "$runtime" -e "$runtime/logs/error.log" -c "$conf"

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- HOOK: the upload service ---------------------------------------------------------
# Started in the background as soon as the binary has a `serve` subcommand; it reads the
# PLUGINS_* variables exported above and listens on 127.0.0.1:$UPLOADER_PORT behind nginx.
# Until then nginx answers the service's paths with a JSON 503.
if target/release/uploader serve --help >/dev/null 2>&1; then
    say "starting the upload service on $PLUGINS_UPLOADER_LISTEN"
    target/release/uploader serve --generate-secret &
    pids+=($!)
else
    say "upload service not available yet (no \`uploader serve\`): uploads answer 503"
fi
# ---------------------------------------------------------------------------------------

say "serving $PLUGINS_BASE_URL/ (logs in $runtime/logs/); Ctrl-C stops"
"$nginx_bin" -p "$runtime" -e "$runtime/logs/error.log" -c "$conf" &
pids+=($!)
# Returns when nginx stops (or a signal arrives; the traps then stop everything).
wait "${pids[-1]}"
