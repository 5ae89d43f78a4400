#!/usr/bin/env bash
# The cluster benchmark (issue 16): a synthetic catalog of N plugins published to the
# three-node Garage cluster of scripts/cluster.sh and served by its two nginx edges. Prints,
# beside the machine's own limits measured in the same run:
#   - the cold publication of the whole site to the bucket (objects, bytes, seconds), beside
#     the writer's local publish of the same build and a cp -rL of the release;
#   - an approval's publication (objects put, ms until live on BOTH edges), beside the local
#     publish of the same build (ms until the release is live on the writer's disk);
#   - edge throughput of plugins.xml?qgis=3.34 with gzip (cache hot), beside today's single
#     nginx serving the writer's local site.
# It never asserts on timings; CI runs it at a small N (`--quick`) as a smoke test.
#
#   scripts/bench-cluster.sh [N=2500] [--quick] [--runs K=3]
#
# Needs: nginx, wrk, sqlite3, curl, Garage (scripts/garage.sh).
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

say() { echo "bench-cluster: $*" >&2; }
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
scripts/ensure-deps.sh cluster >&2
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
cargo build --release -q -p generator -p uploader
gen=target/release/generator upl=target/release/uploader

work="$root/target/bench-cluster/n$n"
cluster="$work/cluster"
rm -rf "$cluster"
mkdir -p "$cluster/writer"
data="$cluster/writer/data"
say "synthesising $n plugins into $data"
"$gen" synth --plugins "$n" --data "$data" \
    --listing ../shared/data/qgis_plugins_listing_2025-02-10.json >/dev/null

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
free_base() { echo $(( 10000 + (RANDOM % 1000) * 20 )); }

export CLUSTER_DIR="$cluster" CLUSTER_SEED=none CLUSTER_BUILD=0
export GARAGE_PORT_BASE="$(free_base)"
export EDGE1_PORT=$((GARAGE_PORT_BASE + 40)) EDGE2_PORT=$((GARAGE_PORT_BASE + 41))
export WRITER_PORT=$((GARAGE_PORT_BASE + 42)) single_port=$((GARAGE_PORT_BASE + 43))
export PLUGINS_CHANGES_BURST=1000 PLUGINS_CHANGES_PER_MINUTE=1000
edge1="http://127.0.0.1:$EDGE1_PORT" edge2="http://127.0.0.1:$EDGE2_PORT"

# 1. Cold publication: `cluster.sh up` builds the site and publishes it all to the bucket
#    before it is ready; the writer logs the build's report (local publish and S3 figures).
say "starting the cluster (cold publication of $n plugins)"
t0=$(now)
scripts/cluster.sh up >"$work/cluster.log" 2>&1 &
cluster_pid=$!
single_pid=""
stop_all() {
    kill -TERM "$cluster_pid" ${single_pid:+"$single_pid"} 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop_all EXIT
until [ -f "$cluster/ready" ]; do
    kill -0 "$cluster_pid" 2>/dev/null || { say "cluster.sh up failed"; tail -50 "$work/cluster.log" >&2; exit 1; }
    sleep 0.5
done
t1=$(now)
up_ms=$(ms "$t0" "$t1")
writer_log="$cluster/writer/writer.log"
# The cold build is cluster.sh's `generator build` before the writer starts: its report
# (one JSON line) is in the cluster's log.
read -r cold_objects cold_bytes cold_s3_ms cold_local_ms < <(python3 - "$work/cluster.log" <<'PY'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("{") and '"s3"' in line:
        r = json.loads(line)
        s3 = r.get("s3") or {}
        print(s3.get("objects_put", "n/a"), s3.get("bytes_put", "n/a"), s3.get("total_ms", "n/a"), r.get("publish_ms", "n/a"))
        break
else:
    print("n/a n/a n/a n/a")
PY
)
release="$(readlink -f "$cluster/writer/site/current")"
files=$(find -L "$release" -type f ! -name '.*' | wc -l)
sync
t0=$(now); cp -rL "$release" "$work/copy"; sync; t1=$(now)
copy_ms=$(ms "$t0" "$t1")
rm -rf "$work/copy"

# 2. One approval → live on both edges, from the API call.
pw="bench-password-$RANDOM"
"$upl" user add "bench" --staff --password-stdin --data "$data" <<<"$pw" >/dev/null 2>&1 || true
token=$(curl -fs -X POST "$edge1/api/v1/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$pw\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
read -r pkg ver sha < <(sqlite3 -separator ' ' "$data/catalog.sqlite3" \
    "SELECT p.package_name, v.version, v.package_sha256 FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
     WHERE v.approved = 0 AND v.experimental = 0 AND v.max_qgis >= '003.034.000' AND v.min_qgis <= '003.034.099'
       AND p.deprecated = 0
       AND v.version_key > (SELECT coalesce(max(w.version_key), '') FROM plugin_versions w
                            WHERE w.plugin_id = v.plugin_id AND w.approved = 1 AND w.experimental = 0)
     ORDER BY v.version_key DESC LIMIT 1")
needle="/plugins/$pkg/version/$ver/download/"
live_edges=() live_answer=() put_objects=() local_ms=() s3_ms=()
on_both() {
    curl -fs --compressed -o "$work/e1.xml" "$edge1/plugins/plugins.xml?qgis=3.34" || true
    curl -fs --compressed -o "$work/e2.xml" "$edge2/plugins/plugins.xml?qgis=3.34" || true
    grep -qF "$needle" "$work/e1.xml" && grep -qF "$needle" "$work/e2.xml"
}
for _ in $(seq "$runs"); do
    before=$(grep -c 'site rebuilt' "$writer_log" || true)
    t0=$(now)
    curl -fs -o "$work/approve.json" -X POST "$edge1/api/v1/plugins/$pkg/versions/$ver/approve" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "{\"sha256\":\"$sha\"}"
    t1=$(now)
    for _ in $(seq 2000); do on_both && break; done
    t2=$(now)
    on_both || { say "the approval of $pkg $ver never became live on both edges"; exit 1; }
    live_answer+=("$(ms "$t0" "$t1")") live_edges+=("$(ms "$t0" "$t2")")
    line=$(grep 'site rebuilt' "$writer_log" | sed -n "$((before + 1))p")
    put_objects+=("$(sed -n 's/.*s3_objects=\([0-9]*\).*/\1/p' <<<"$line")")
    local_ms+=("$(sed -n 's/.*publish_ms=\([0-9]*\).*/\1/p' <<<"$line")")
    s3_ms+=("$(sed -n 's/.*s3_ms=\([0-9]*\).*/\1/p' <<<"$line")")
    curl -fs -o /dev/null -X POST "$edge1/api/v1/plugins/$pkg/versions/$ver/unapprove" \
        -H "Authorization: Bearer $token"
    until ! on_both; do :; done
done

# 3. Edge throughput (cache hot) beside one nginx serving the writer's local site.
rt="$work/single"
conf="$(nginx/render.sh --prefix "$rt" --site-root "$cluster/writer/site/current" \
    --listen "127.0.0.1:$single_port" --uploader "127.0.0.1:$WRITER_PORT" --daemon off \
    --data-root "$data")"
rt="$(cd "$rt" && pwd)"
"$nginx_bin" -p "$rt" -e "$rt/logs/error.log" -c "$conf" &
single_pid=$!
curl -fs --retry 40 --retry-connrefused --retry-max-time 30 -o /dev/null "http://127.0.0.1:$single_port/"
wrk_rps() { wrk -t2 -c64 -d"${wrk_secs}s" -H 'Accept-Encoding: gzip' "$1" 2>/dev/null | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }
q="/plugins/plugins.xml?qgis=3.34"
curl -fs -o /dev/null -H 'Accept-Encoding: gzip' "$edge1$q"
edge_rps=$(wrk_rps "$edge1$q")
single_rps=$(wrk_rps "http://127.0.0.1:$single_port$q")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
cat <<EOF

## Cluster benchmark: N=$n plugins, $files files per release, 3 Garage nodes (RF 3), 2 edges

| figure | median | beside (same run) |
|---|---|---|
| cold publication to the cluster | ${cold_s3_ms:-n/a} ms, ${cold_objects:-n/a} objects, ${cold_bytes:-n/a} bytes | local publish ${cold_local_ms:-n/a} ms; cp -rL of the release $copy_ms ms |
| cluster.sh up until ready (incl. build) | $up_ms ms | |
| approval: objects put | $(printf '%s\n' "${put_objects[@]}" | median) | |
| approval: S3 publication | $(printf '%s\n' "${s3_ms[@]}" | median) ms | local publish $(printf '%s\n' "${local_ms[@]}" | median) ms |
| approval: API answer (live in the bucket) | $(printf '%s\n' "${live_answer[@]}" | median) ms | |
| approval: live on both edges | $(printf '%s\n' "${live_edges[@]}" | median) ms | target ≤ 2000 ms |
| edge: plugins.xml?qgis=3.34, gzip, cache hot | $edge_rps req/s | single nginx $single_rps req/s (ratio $(ratio "$edge_rps" "$single_rps"); target ≥ 0.80) |
EOF
