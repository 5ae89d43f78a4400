#!/usr/bin/env bash
# The scale benchmark (issue "Real scale"): builds a synthetic catalog of N plugins and prints,
# as medians of repeated runs on this machine, each figure beside the machine's own limit
# measured in the same run. It never asserts on timings; CI runs it at a small N as a smoke
# test (`scripts/bench.sh 40 --quick`).
#
#   scripts/bench.sh [N=2500] [--quick] [--runs K=3]
#
# Needs: nginx, wrk, sqlite3, /usr/bin/time (installed here if missing, Debian, as root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

n=2500 quick=0 runs=3
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --runs) runs="$2"; shift ;;
        [0-9]*) n="$1" ;;
        *) echo "usage: $0 [N] [--quick] [--runs K]" >&2; exit 2 ;;
    esac
    shift
done
[ "$quick" = 1 ] && runs=2
wrk_secs=$([ "$quick" = 1 ] && echo 1 || echo 5)

say() { echo "bench: $*" >&2; }
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[ -x /usr/bin/time ] || need+=(time)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release -q -p generator -p uploader
gen=target/release/generator
upl=target/release/uploader

work="target/bench/n$n"
data="$work/data" site="$work/site" rt="$work/nginx"
mkdir -p "$work"
port=$(( 20000 + RANDOM % 20000 )); uport=$(( port + 1 ))
base="http://127.0.0.1:$port"
export PLUGINS_DATA_DIR="$data" PLUGINS_SITE_DIR="$site" PLUGINS_TEMPLATES_DIR="$root/templates"
export PLUGINS_BASE_URL="$base" PLUGINS_UPLOADER_LISTEN="127.0.0.1:$uport" PLUGINS_LOG=warn

if [ ! -f "$data/catalog.sqlite3" ]; then
    say "synthesising $n plugins into $data"
    "$gen" synth --plugins "$n" --data "$data" --listing ../shared/data/qgis_plugins_listing_2025-02-10.json >&2
fi

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# 1. Cold full build (fresh site dir each run) beside cp -r of the built tree. Each run builds
#    and copies into directories that never existed: deleting a large tree just before would
#    make the file system's inode allocator skip the freshly freed inodes and slow both down.
#    Leftovers are deleted when the benchmark ends.
cold=() copy=() gen_rss=()
# Earlier runs' trees are moved aside and deleted only when this run ends: on this machine's
# ext4 (no journal, mounted with `discard`), deleting a large tree slows inode allocation and
# the disk itself for minutes afterwards, which would distort the cold builds and the copy.
# For the same reason, do not start a run right after deleting a large tree.
trash="$work/trash-$$"
mkdir -p "$trash"
for old in "$work"/cold-* "$work"/copy-* "$work"/trash-* "$site"; do
    if [ -e "$old" ] && [ "$old" != "$trash" ]; then mv "$old" "$trash/"; fi
done
sync
for i in $(seq "$runs"); do
    t0=$(now)
    PLUGINS_SITE_DIR="$work/cold-$i" /usr/bin/time -f '%M' -o "$work/rss" "$gen" build >/dev/null
    t1=$(now)
    cold+=("$(ms "$t0" "$t1")")
    gen_rss+=("$(cat "$work/rss")")
    sync
    t0=$(now); cp -r "$work/cold-$i" "$work/copy-$i"; sync; t1=$(now)
    copy+=("$(ms "$t0" "$t1")")
done
# The last cold build becomes the site (its links are relative, so a rename keeps it whole).
mv "$work/cold-$runs" "$site"
cleanup_dirs() { rm -rf "$work"/cold-* "$work"/copy-* "$trash"; }
files=$(find -L "$site/current" -type f | wc -l)
bytes=$(du -sb "$site" | cut -f1)

# 2. Rebuild with nothing changed.
noop=()
for i in $(seq $((runs + 2))); do
    t0=$(now); "$gen" build >/dev/null; t1=$(now)
    noop+=("$(ms "$t0" "$t1")")
done

# 3. nginx and the upload service on this site.
conf="$(nginx/render.sh --prefix "$rt" --site-root "$site/current" --listen "127.0.0.1:$port" \
    --uploader "127.0.0.1:$uport" --daemon off)"
rt="$(cd "$rt" && pwd)"
"$nginx_bin" -p "$rt" -e "$rt/logs/error.log" -c "$conf" &
nginx_pid=$!
# At info level the service logs each build's time from spawning the child to live.
PLUGINS_LOG=info "$upl" serve --generate-secret >"$work/uploader.log" 2>&1 &
upl_pid=$!
trap 'kill $nginx_pid $upl_pid 2>/dev/null || true; wait 2>/dev/null || true; cleanup_dirs' EXIT
curl -fs --retry 40 --retry-connrefused --retry-max-time 30 "http://127.0.0.1:$uport/healthz" >/dev/null ||
    { say "upload service did not start"; cat "$work/uploader.log" >&2; exit 1; }
curl -fs --retry 40 --retry-connrefused --retry-max-time 30 "$base/" >/dev/null ||
    { say "nginx did not start"; cat "$rt/logs/error.log" >&2; exit 1; }
idle_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$upl_pid/status")

# 4. One approval → live in plugins.xml through nginx, measured from the API call.
pw="bench-password-$RANDOM"
"$upl" user add "bench$port" --staff --password-stdin <<<"$pw" >/dev/null 2>&1 || true
token=$(curl -fs -X POST "$base/api/v1/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench$port\",\"password\":\"$pw\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
read -r pkg ver qmin sha < <(sqlite3 -separator ' ' "$data/catalog.sqlite3" 2>/dev/null \
    "SELECT p.package_name, v.version, v.min_qgis, v.package_sha256 FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
     WHERE v.approved = 0 AND v.experimental = 0 AND v.max_qgis >= '003.034.000' AND v.min_qgis <= '003.034.099'
       AND p.deprecated = 0
       AND v.version_key > (SELECT coalesce(max(w.version_key), '') FROM plugin_versions w
                            WHERE w.plugin_id = v.plugin_id AND w.approved = 1 AND w.experimental = 0)
     ORDER BY v.version_key DESC LIMIT 1" || true)
live=()
if [ -n "${pkg:-}" ] && [ -n "$token" ]; then
    needle="/plugins/$pkg/version/$ver/download/"
    for i in $(seq "$runs"); do
        t0=$(now)
        # Approval names the reviewed bytes: the stored zip's SHA-256.
        curl -fs -X POST "$base/api/v1/plugins/$pkg/versions/$ver/approve" -H "Authorization: Bearer $token" \
            -H 'Content-Type: application/json' -d "{\"sha256\":\"$sha\"}" >/dev/null
        # Live in every affected document: the plugin's own and the site-wide 3.34 (where it
        # becomes the plugin's stable entry).
        found=0
        for _ in $(seq 400); do
            # Into files, then grep: `curl | grep -q` fails under pipefail when grep stops
            # reading early (curl gets SIGPIPE), and would never count as live.
            curl -fs -o "$work/own.xml" "$base/plugins/plugins.xml?qgis=3.34&package_name=$pkg" || true
            curl -fs --compressed -o "$work/site.xml" "$base/plugins/plugins.xml?qgis=3.34" || true
            if grep -qF "$needle" "$work/own.xml" && grep -qF "$needle" "$work/site.xml"; then
                found=1
                break
            fi
        done
        t1=$(now)
        [ "$found" = 1 ] || { say "approved $pkg $ver never became live in plugins.xml"; exit 1; }
        live+=("$(ms "$t0" "$t1")")
        curl -fs -X POST "$base/api/v1/plugins/$pkg/versions/$ver/unapprove" -H "Authorization: Bearer $token" >/dev/null
        # The next approval starts from an idle service: the unapproval's build (and its
        # collection of old releases) has finished.
        until [[ "$(curl -fs "http://127.0.0.1:$uport/healthz" || true)" == *'"building":false'* ]]; do :; done
    done
else
    say "no unapproved stable version for 3.34 found (or no sqlite3 / token): approval latency skipped"
fi

# 5. The upload service during a 25 MB upload (peak RSS).
python3 - "$work/big.zip" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    meta = "[general]\nname=Bench Big\nqgisMinimumVersion=3.22\ndescription=Big plugin\nversion=1.0.0\nauthor=Bench\nemail=b@example.org\nabout=A large plugin for the benchmark.\ntracker=https://example.org/t\nrepository=https://example.org/r\n"
    z.writestr("bench_big/metadata.txt", meta)
    z.writestr("bench_big/__init__.py", "def classFactory(iface):\n    return None\n")
    z.writestr("bench_big/LICENSE", "GPL\n")
    z.writestr("bench_big/data.bin", os.urandom(24 * 1000 * 1000))
EOF
curl -s -o /dev/null -X POST "$base/plugins/add/" -H "Authorization: Bearer $token" -F "package=@$work/big.zip" || true
peak_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$upl_pid/status")

# 6. nginx throughput (bounded wrk runs on loopback).
wrk_rps() { wrk -t2 -c64 -d"${wrk_secs}s" "$@" 2>/dev/null | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }
xml_gz=$(wrk_rps -H 'Accept-Encoding: gzip' "$base/plugins/plugins.xml?qgis=3.34")
# The first plugin tree (a symlink) under plugins/; awk reads all its input, so no SIGPIPE.
first_pkg=$(find "$site/current/plugins/" -mindepth 1 -maxdepth 1 -type l -printf '%f\n' | sort | awk 'NR == 1')
page=$(wrk_rps "$base/plugins/$first_pkg/")
xml_size=$(stat -L -c %s "$site/current/plugins/xml/3.34.xml")

# 7. The machine's limit for an incremental publish: write and sync that many bytes.
inc_bytes=$(( xml_size * 2 ))
t0=$(now); dd if=/dev/zero of="$work/dd" bs=1M count=$(( inc_bytes / 1048576 + 1 )) conv=fsync status=none; t1=$(now)
dd_ms=$(ms "$t0" "$t1"); rm -f "$work/dd"

m() { printf '%s\n' "$@" | median; }
# The service's own figure for the approval builds (all but its startup build): spawning the
# child build until the release is live.
build_ms=$(grep -a 'site rebuilt' "$work/uploader.log" | sed -n 's/.* ms=\([0-9]*\).*/\1/p' | awk 'NR > 1' | median)
cat <<EOF

scale benchmark: N=$n plugins, $(sqlite3 "$data/catalog.sqlite3" 'select count(*) from plugin_versions' 2>/dev/null || echo '?') versions; site: $files files, $((bytes / 1048576)) MB; runs=$runs
| figure | median | machine limit (same run) |
|---|---|---|
| cold full build | $(m "${cold[@]}") ms | cp -r of the built site: $(m "${copy[@]}") ms |
| rebuild, nothing changed | $(m "${noop[@]}") ms | |
| approval → live in plugins.xml through nginx | $( [ ${#live[@]} -gt 0 ] && m "${live[@]}" || echo n/a ) ms | write+fsync ${inc_bytes} bytes: ${dd_ms} ms |
| … of which the site build, child spawned → live (service log) | ${build_ms} ms | |
| generator peak RSS (cold build) | $(( $(m "${gen_rss[@]}") / 1024 )) MB | |
| upload service RSS idle / peak during a 25 MB upload | $((idle_kb / 1024)) MB / $((peak_kb / 1024)) MB | |
| nginx plugins.xml?qgis=3.34 with gzip ($((xml_size / 1024)) KB) | ${xml_gz:-n/a} req/s | |
| nginx plugin page | ${page:-n/a} req/s | |
EOF
