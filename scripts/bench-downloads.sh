#!/usr/bin/env bash
# Download throughput through nginx with counting on (every download URL writes its line to
# downloads.log, the input of `uploader count-downloads`) against counting off: the same
# configuration without the downloads.log line ("no count": the combined access.log line
# stays) and with `access_log off` in the download location ("off": no log at all). Same
# zip, bounded wrk runs on loopback, alternated; prints the medians, the ratios (target: at
# least 80 %) and how fast one ingest pass counts the lines the runs logged. Never asserts
# on timings.
#
#   scripts/bench-downloads.sh [--secs S=5] [--runs K=3] [--connections C=32]
#
# Needs: nginx, wrk (installed here if missing, Debian, as root) and the release binaries
# (built here).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

secs=5 runs=3 conns=32
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) secs="$2"; shift ;;
        --runs) runs="$2"; shift ;;
        --connections) conns="$2"; shift ;;
        *) echo "usage: $0 [--secs S] [--runs K] [--connections C]" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "bench-downloads: $*" >&2; }
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

say "building release binaries"
cargo build --release -q -p generator -p uploader
gen="$root/target/release/generator"
upl="$root/target/release/uploader"

work="$(mktemp -d /tmp/bench-downloads.XXXXXX)"
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
export PLUGINS_DATA_DIR="$work/data" PLUGINS_SITE_DIR="$work/site"
export PLUGINS_TEMPLATES_DIR="$root/templates" PLUGINS_BASE_URL="http://127.0.0.1:$port"
"$gen" demo --data "$PLUGINS_DATA_DIR" >/dev/null 2>&1
"$gen" build >/dev/null 2>&1
zip_file="$(cd "$PLUGINS_SITE_DIR/current" && find -L plugins -mindepth 2 -maxdepth 2 -name '*.zip' | sort | head -1)"
[ -n "$zip_file" ] || { say "the demo site has no zip"; exit 1; }
# plugins/<pkg>/<pkg>.<v>.zip (flat tree) -> /plugins/<pkg>/version/<v>/download/
pkg="$(basename "$(dirname "$zip_file")")"
ver="$(basename "$zip_file" .zip)"; ver="${ver#"$pkg".}"
url="$PLUGINS_BASE_URL/plugins/$pkg/version/$ver/download/"
size=$(stat -L -c %s "$PLUGINS_SITE_DIR/current/$zip_file")

# Counting on: the configuration as shipped. Off: no log line in the download location.
on_conf="$(nginx/render.sh --prefix "$work/on" --site-root "$PLUGINS_SITE_DIR/current" \
    --listen "127.0.0.1:$port" --workers 2 --daemon off --data-root "$PLUGINS_DATA_DIR")"
off_conf="$work/off/nginx.conf" nocount_conf="$work/nocount/nginx.conf"
mkdir -p "$work/off/logs" "$work/off/tmp" "$work/nocount/logs" "$work/nocount/tmp"
awk -v on="$work/on" -v off="$work/nocount" '
    /location ~ .*\/download\/\?\$/ { inside = 1 }
    inside && /downloads.log downloads/ { next }
    inside && /^        }/ { inside = 0 }
    { gsub(on, off); print }' "$on_conf" >"$nocount_conf"
awk -v on="$work/on" -v off="$work/off" '
    /location ~ .*\/download\/\?\$/ { inside = 1 }
    inside && /access_log/ { if (!done) { print "            access_log off;"; done = 1 } next }
    inside && /^        }/ { inside = 0 }
    { gsub(on, off); print }' "$on_conf" >"$off_conf"
if grep -q 'downloads.log downloads' "$off_conf" "$nocount_conf"; then
    say "failed to derive the off configs"; exit 1
fi
for c in "$on_conf" "$off_conf" "$nocount_conf"; do
    p="$(dirname "$c")"
    "$nginx_bin" -t -q -p "$p" -e "$p/logs/error.log" -c "$c"
done

nginx_pid=""
stop() { [ -z "$nginx_pid" ] || { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }; nginx_pid=""; }
trap 'stop; rm -rf "$work"' EXIT
start() { # $1: config
    local p; p="$(dirname "$1")"
    "$nginx_bin" -p "$p" -e "$p/logs/error.log" -c "$1" </dev/null &
    nginx_pid=$!
    curl -fs -o /dev/null --retry 40 --retry-connrefused --retry-max-time 20 "$url" ||
        { say "nginx did not start"; cat "$p/logs/error.log" >&2; exit 1; }
}
rps() { wrk -t2 -c"$conns" -d"${secs}s" "$url" 2>/dev/null | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

say "wrk -t2 -c$conns -d${secs}s $url ($size bytes), $runs alternated runs each"
on=() off=() nocount=()
for i in $(seq "$runs"); do
    start "$off_conf"; off+=("$(rps)"); stop
    start "$nocount_conf"; nocount+=("$(rps)"); stop
    start "$on_conf"; on+=("$(rps)"); stop
done
on_m=$(median "${on[@]}") off_m=$(median "${off[@]}") nocount_m=$(median "${nocount[@]}")

log="$work/on/logs/downloads.log"
lines=$(wc -l <"$log")
t0=$(date +%s%N)
"$upl" count-downloads --data "$PLUGINS_DATA_DIR" --log "$log" >/dev/null
t1=$(date +%s%N)
ingest_ms=$(( (t1 - t0) / 1000000 ))

echo "downloads/s, off (access_log off):            $off_m   (runs: ${off[*]})"
echo "downloads/s, no count (access.log only):      $nocount_m   (runs: ${nocount[*]})"
echo "downloads/s, counting on (+ downloads.log):   $on_m   (runs: ${on[*]})"
awk -v a="$on_m" -v b="$nocount_m" -v c="$off_m" 'BEGIN {
    printf "ratio on/no count: %.1f %%, on/off: %.1f %% (target >= 80 %%)\n", 100 * a / b, 100 * a / c }'
echo "one ingest pass: $lines log lines in $ingest_ms ms"
