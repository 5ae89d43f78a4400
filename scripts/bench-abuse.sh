#!/usr/bin/env bash
# The abuse benchmark (issue "A password flood starves everyone"): wrk hammers the password
# surfaces through nginx with wrong credentials (HTTP Basic on the download URL of an
# unapproved version, which falls back to the service, and wrong-password POSTs to
# /api/v1/token with rotating user names) while a staff member, with a JWT obtained before
# the flood, lists the review queue and approves and unapproves a version. Prints the staff
# requests' median and p95 latency idle and under the flood, the flood's rate and statuses,
# and how many password checks the service actually ran (`password_checks` of /healthz),
# beside the machine's limit (argon2id checks per second on one core, `uploader bench-hash`).
# It never asserts on timings; `make test` runs `--quick` as a smoke test.
#
#   scripts/bench-abuse.sh [--quick] [--connections N=300] [--seconds S=20]
#
# Loopback only. Needs: nginx, wrk, sqlite3, curl (wrk and sqlite3 installed here if missing,
# Debian, as root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0 conns=300 secs=20
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --connections) conns="$2"; shift ;;
        --seconds) secs="$2"; shift ;;
        *) echo "usage: $0 [--quick] [--connections N] [--seconds S]" >&2; exit 2 ;;
    esac
    shift
done
idle_rounds=15
if [ "$quick" = 1 ]; then conns=40 secs=4 idle_rounds=4; fi

say() { echo "bench-abuse: $*" >&2; }
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release -q -p generator -p uploader
gen="$root/target/release/generator"
upl="$root/target/release/uploader"

mkdir -p target/bench-abuse
work="$(mktemp -d "$root/target/bench-abuse/run-XXXXXX")"
data="$work/data" site="$work/site" rt="$work/nginx"
port=$(( 20000 + RANDOM % 20000 )); uport=$(( port + 1 ))
base="http://127.0.0.1:$port"
export PLUGINS_DATA_DIR="$data" PLUGINS_SITE_DIR="$site" PLUGINS_TEMPLATES_DIR="$root/templates"
export PLUGINS_BASE_URL="$base" PLUGINS_UPLOADER_LISTEN="127.0.0.1:$uport" PLUGINS_LOG=warn
unset PLUGINS_JWT_SECRET PLUGINS_JWT_SECRET_FILE

"$gen" demo --data "$data" >/dev/null
"$gen" build >/dev/null
conf="$(nginx/render.sh --prefix "$rt" --site-root "$site/current" --listen "127.0.0.1:$port" \
    --uploader "127.0.0.1:$uport" --daemon off --workers 1 --data-root "$data")"
rt="$(cd "$rt" && pwd)"
nginx_pid="" upl_pid=""
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    [ -n "$upl_pid" ] && kill "$upl_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
"$nginx_bin" -p "$rt" -e "$rt/logs/error.log" -c "$conf" &
nginx_pid=$!
# The staff member approves and unapproves far faster than a person would: the per-user
# change throttle (a separate defence, tested elsewhere) is opened wide so that every staff
# request measured here does its real work.
"$upl" serve --generate-secret --no-count --changes-burst 100000 --changes-per-minute 100000 \
    >"$work/uploader.log" 2>&1 &
upl_pid=$!
curl -fs --retry 40 --retry-connrefused --retry-max-time 30 "http://127.0.0.1:$uport/healthz" >/dev/null ||
    { say "upload service did not start"; cat "$work/uploader.log" >&2; exit 1; }
curl -fs --retry 40 --retry-connrefused --retry-max-time 30 -o /dev/null "$base/" ||
    { say "nginx did not start"; cat "$rt/logs/error.log" >&2; exit 1; }

# Accounts: a staff member and a plain user (the flood's target).
pw="bench-password-$RANDOM$RANDOM"
"$upl" user add boss --staff --email boss@example.org --password-stdin <<<"$pw" >/dev/null
"$upl" user add victim --email victim@example.org --password-stdin <<<"$pw" >/dev/null
token=$(curl -fs -X POST "$base/api/v1/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"boss\",\"password\":\"$pw\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { say "no staff token"; exit 1; }
q() { sqlite3 -separator ' ' "$data/catalog.sqlite3" "$1"; }
# The flood's download URL: the demo's unapproved version (nginx falls back to the service).
read -r fpkg fver < <(q "SELECT p.package_name, v.version FROM plugin_versions v
    JOIN plugins p ON p.id = v.plugin_id WHERE v.approved = 0 LIMIT 1")
# The staff member's version: an approved one of another plugin, unapproved once here.
read -r spkg sver ssha < <(q "SELECT p.package_name, v.version, v.package_sha256
    FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
    WHERE v.approved = 1 AND p.package_name <> '$fpkg' ORDER BY p.id, v.id LIMIT 1")
auth=(-H "Authorization: Bearer $token")
curl -fs -o /dev/null -X POST "$base/api/v1/plugins/$spkg/versions/$sver/unapprove" "${auth[@]}"

# One staff round: list the queue, approve, unapprove; "<kind> <seconds> <status>" lines.
staff_round() {
    curl -s -o /dev/null -w "review %{time_total} %{http_code}\n" --max-time 60 \
        "$base/api/v1/review" "${auth[@]}"
    curl -s -o /dev/null -w "approve %{time_total} %{http_code}\n" --max-time 60 -X POST \
        "$base/api/v1/plugins/$spkg/versions/$sver/approve" "${auth[@]}" \
        -H 'Content-Type: application/json' -d "{\"sha256\":\"$ssha\"}"
    curl -s -o /dev/null -w "unapprove %{time_total} %{http_code}\n" --max-time 60 -X POST \
        "$base/api/v1/plugins/$spkg/versions/$sver/unapprove" "${auth[@]}"
}
checks() {
    curl -fs "http://127.0.0.1:$uport/healthz" | sed -n 's/.*"password_checks":\([0-9]*\).*/\1/p'
}
# "median p95 n" in ms of the seconds in column 2 of stdin.
stats() {
    awk '{ print $2 * 1000 }' | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a n/a 0"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        i = int(NR * 0.95 + 0.999999); if (i > NR) i = NR
        printf "%.1f %.1f %d\n", m, v[i], NR }'
}
report() {
    local label="$1" file="$2" all rev appr unap other
    read -r all < <(stats <"$file" | awk '{ printf "median %s ms, p95 %s ms (n=%s)\n", $1, $2, $3 }')
    read -r rev < <(grep '^review ' "$file" | stats | awk '{ printf "%s/%s\n", $1, $2 }')
    read -r appr < <(grep '^approve ' "$file" | stats | awk '{ printf "%s/%s\n", $1, $2 }')
    read -r unap < <(grep '^unapprove ' "$file" | stats | awk '{ printf "%s/%s\n", $1, $2 }')
    other=$(awk '$3 !~ /^2/ { n[$3]++; t++ } END { printf "%d", t; for (k in n) printf " (%s: %d)", k, n[k] }' "$file")
    echo "  staff $label: $all; median/p95 review $rev ms, approve $appr ms, unapprove $unap ms (live); non-2xx: $other"
}

# The machine's limit, measured now.
read -r per_core < <("$upl" bench-hash --seconds 2 | awk '/checks_per_second/ { print $2 }')
cores=$(nproc)

# Idle: the same staff rounds with nothing else running.
: >"$work/idle.txt"
for _ in $(seq "$idle_rounds"); do staff_round >>"$work/idle.txt"; done

# The flood: wrong Basic credentials on the unapproved download (the real account `victim`)
# and wrong passwords on /api/v1/token (rotating user names), alternately.
cat >"$work/flood.lua" <<EOF
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
    counts = {}
    n = 0
    math.randomseed(os.time() + math.random(1000000))
end
local basic = "Basic " .. "$(printf 'victim:wrong-password' | base64 -w0)"
function request()
    n = n + 1
    if n % 2 == 0 then
        return wrk.format("GET", "/plugins/$fpkg/version/$fver/download/",
            { ["Authorization"] = basic })
    end
    local body = '{"username":"user' .. math.random(1, 1000000000) .. '","password":"wrong"}'
    return wrk.format("POST", "/api/v1/token", { ["Content-Type"] = "application/json" }, body)
end
function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
    end
    local keys = {}
    for k in pairs(total) do table.insert(keys, k) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do table.insert(parts, k .. ": " .. total[k]) end
    io.write("statuses " .. table.concat(parts, ", ") .. "\n")
    io.write(string.format("requests %d errors %d\n", summary.requests,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout))
end
EOF
before=$(checks)
ulimit -n 4096 2>/dev/null || true
t0=$(date +%s.%N)
wrk -t2 -c"$conns" -d"${secs}s" --timeout 30s -s "$work/flood.lua" "$base" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
# Let the flood ramp up, then run staff rounds until it ends (bounded by count too).
sleep 1
: >"$work/flood.txt"
for _ in $(seq 200); do
    kill -0 "$wrk_pid" 2>/dev/null || break
    staff_round >>"$work/flood.txt"
done
wait "$wrk_pid" || { say "wrk failed"; cat "$work/wrk.txt" >&2; exit 1; }
t1=$(date +%s.%N)
after=$(checks)
# Rounds that started after the flood ended are not "under the flood" but are kept: the
# loop stops at the first check after wrk exits.

elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
ran=$((after - before))
reqs=$(awk '/^requests/ { print $2 }' "$work/wrk.txt")
statuses=$(sed -n 's/^statuses //p' "$work/wrk.txt")
errs=$(awk '/^requests/ { print $4 }' "$work/wrk.txt")
echo "bench-abuse: $conns connections for ${secs} s of wrong credentials through nginx ($cores cores)"
report "idle" "$work/idle.txt"
report "under flood" "$work/flood.txt"
awk -v r="$reqs" -v s="$secs" -v st="$statuses" -v e="$errs" 'BEGIN {
    printf "  flood: %d requests, %.0f req/s; statuses %s; socket errors %d\n", r, r / s, st, e }'
awk -v n="$ran" -v el="$elapsed" -v pc="$per_core" -v c="$cores" 'BEGIN {
    printf "  password checks run by the service: %d (%.1f/s over %.1f s)\n", n, n / el, el
    printf "  machine limit: %.1f argon2id checks/s on one core, %.0f/s on %d cores\n", pc, pc * c, c }'
