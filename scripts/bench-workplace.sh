#!/usr/bin/env bash
# The web workplace benchmark (issue 14 "Performance"): the median and p95 latency of each
# workplace page through nginx, signed in as a browser would be (session cookie), on the
# demo catalog and on a synthetic catalog of N plugins, beside the machine's own floor
# measured in the same run (a static page served by nginx from the same site), and the
# upload service's idle RSS. The review page is that of a 5 MB plugin whose pending version
# changes ten modules and its homepage (a diff against the approved one). At N plugins the
# author co-owns 40 of them (a prolific author's /plugins/my). It never asserts on timings.
#
#   scripts/bench-workplace.sh [--quick] [--n N=2500] [--rounds R=60]
#
# --quick: the demo catalog only, 15 rounds per page (well under a minute once built).
# The N catalog is the one scripts/bench.sh synthesises (target/bench/n<N>/data), made here
# if missing, and used through a copy (hard-linked zips): the benchmark adds accounts and a
# plugin to it. Loopback only. Needs: nginx, sqlite3, curl, python3 (sqlite3 installed here
# if missing, Debian, as root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0 n=2500 rounds=60
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --n) n="$2"; shift ;;
        --rounds) rounds="$2"; shift ;;
        *) echo "usage: $0 [--quick] [--n N] [--rounds R]" >&2; exit 2 ;;
    esac
    shift
done
[ "$quick" = 1 ] && rounds=15

say() { echo "bench-workplace: $*" >&2; }
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
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
mkdir -p target/bench-workplace
work="$(mktemp -d "$root/target/bench-workplace/run-XXXXXX")"
nginx_pid="" upl_pid=""
stop() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    [ -n "$upl_pid" ] && kill "$upl_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    nginx_pid="" upl_pid=""
}
trap 'stop; rm -rf "$work"' EXIT
unset PLUGINS_JWT_SECRET PLUGINS_JWT_SECRET_FILE
export PLUGINS_TEMPLATES_DIR="$root/templates" PLUGINS_LOG=warn
pw="bench-password-$RANDOM$RANDOM"
pkg=bench_workplace

# The 5 MB plugin: 60 Python modules of about 60 KB and 1.4 MB of binary data, stored.
# Version 1.1 changes one line in ten modules and the homepage.
python3 - "$work" "$pkg" <<'EOF'
import os, random, sys, zipfile
work, pkg = sys.argv[1], sys.argv[2]
rng = random.Random(14)
modules = []
for m in range(60):
    lines = [f"def f_{m}_{i}(x):\n    return x * {rng.randint(1, 999)} + {i}\n\n" for i in range(1300)]
    modules.append(lines)
blob = rng.randbytes(1_400_000)
def write(version, homepage, changed):
    meta = ("[general]\nname=Bench Workplace\nqgisMinimumVersion=3.22\n"
            "description=A 5 MB plugin for the workplace benchmark\n"
            f"version={version}\nauthor=Bench\nemail=b@example.org\n"
            "about=It has many modules so that its review page has a large diff.\n"
            "tracker=https://example.org/t\nrepository=https://example.org/r\n"
            f"homepage={homepage}\n")
    with zipfile.ZipFile(f"{work}/{version}.zip", "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{pkg}/", "")
        z.writestr(f"{pkg}/metadata.txt", meta)
        z.writestr(f"{pkg}/__init__.py", "def classFactory(iface):\n    return None\n")
        z.writestr(f"{pkg}/LICENSE", "GPL\n")
        for m, lines in enumerate(modules):
            text = list(lines)
            if m in changed:
                text[700] = f"def f_{m}_700(x):\n    return x * 2 + 700  # changed in {version}\n\n"
            z.writestr(f"{pkg}/mod_{m:02}.py", "".join(text))
        z.writestr(f"{pkg}/data/blob.bin", blob)
write("1.0", "https://example.org/bench", set())
write("1.1", "https://example.org/bench/home", set(range(0, 60, 6)))
EOF

# "median p95" in ms of the seconds on stdin.
stats() {
    awk '{ print $1 * 1000 }' | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a n/a"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        i = int(NR * 0.95 + 0.999999); if (i > NR) i = NR
        printf "%.1f %.1f\n", m, v[i] }'
}

# One page, `rounds` sequential GETs (after two warm-ups): "median p95 status".
page() {
    local jar="$1" path="$2" status
    for _ in 1 2; do curl -s -o /dev/null -b "$jar" "$base$path"; done
    status=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$base$path")
    for _ in $(seq "$rounds"); do
        curl -s -o /dev/null -w '%{time_total}\n' -b "$jar" "$base$path"
    done | stats | awk -v s="$status" '{ print $0, s }'
}

# Signs `user` in through the login form; the cookie jar file.
sign_in() {
    local user="$1" jar="$work/$1.jar" csrf
    csrf=$(curl -fs -c "$jar" "$base/accounts/login/" |
        sed -n 's/.*name="csrfmiddlewaretoken" value="\([0-9a-f]*\)".*/\1/p' | head -n1)
    curl -s -o /dev/null -b "$jar" -c "$jar" "$base/accounts/login/" \
        --data-urlencode "username=$user" --data-urlencode "password=$pw" \
        --data-urlencode "csrfmiddlewaretoken=$csrf" --data-urlencode "next=/plugins/my"
    grep -q qgis_session "$jar" || { say "sign-in of $user failed"; exit 1; }
    echo "$jar"
}

api_token() {
    curl -fs -X POST "$base/api/v1/token" -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$pw\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}

# Starts nginx and the service on the data dir $1 (site built into $2).
start() {
    local data="$1" site="$2" rt="$3"
    port=$(( 20000 + RANDOM % 20000 )); uport=$(( port + 1 ))
    base="http://127.0.0.1:$port"
    export PLUGINS_DATA_DIR="$data" PLUGINS_SITE_DIR="$site" PLUGINS_BASE_URL="$base"
    export PLUGINS_UPLOADER_LISTEN="127.0.0.1:$uport"
    "$gen" build >/dev/null
    local conf
    conf="$(nginx/render.sh --prefix "$rt" --site-root "$site/current" --listen "127.0.0.1:$port" \
        --uploader "127.0.0.1:$uport" --daemon off --workers 1 --data-root "$data")"
    rt="$(cd "$rt" && pwd)"
    "$nginx_bin" -p "$rt" -e "$rt/logs/error.log" -c "$conf" &
    nginx_pid=$!
    "$upl" serve --generate-secret --no-count --changes-burst 1000 --changes-per-minute 1000 \
        >"$data/../uploader.log" 2>&1 &
    upl_pid=$!
    curl -fs --retry 40 --retry-connrefused --retry-max-time 60 -o /dev/null \
        "http://127.0.0.1:$uport/healthz" || { say "upload service did not start"; exit 1; }
    curl -fs --retry 40 --retry-connrefused --retry-max-time 30 -o /dev/null "$base/" ||
        { say "nginx did not start"; exit 1; }
    until [[ "$(curl -fs "http://127.0.0.1:$uport/healthz" || true)" == *'"building":false'* ]]; do :; done
}

# Accounts, the 5 MB plugin (1.0 approved, 1.1 pending) and two tokens.
prepare() {
    local data="$1" owned="$2" staff_token author_token sha
    "$upl" user add bw_author --email a@example.org --password-stdin <<<"$pw" >/dev/null
    "$upl" user add bw_staff --staff --email s@example.org --password-stdin <<<"$pw" >/dev/null
    if [ "$owned" -gt 0 ]; then
        sqlite3 "$data/catalog.sqlite3" "INSERT INTO plugin_owners (plugin_id, user_id)
            SELECT p.id, u.id FROM plugins p, users u WHERE u.username = 'bw_author'
            ORDER BY p.id LIMIT $owned"
    fi
    author_token=$(api_token bw_author)
    staff_token=$(api_token bw_staff)
    for v in 1.0 1.1; do
        curl -fs -o /dev/null -X POST "$base/plugins/add/" -H "Authorization: Bearer $author_token" \
            -F "package=@$work/$v.zip" || { say "upload of $pkg $v failed"; exit 1; }
        [ "$v" = 1.1 ] && break
        sha=$(sqlite3 "$data/catalog.sqlite3" "SELECT v.package_sha256 FROM plugin_versions v
            JOIN plugins p ON p.id = v.plugin_id WHERE p.package_name = '$pkg' AND v.version = '1.0'")
        curl -fs -o /dev/null -X POST "$base/api/v1/plugins/$pkg/versions/1.0/approve" \
            -H "Authorization: Bearer $staff_token" -H 'Content-Type: application/json' \
            -d "{\"sha256\":\"$sha\"}" || { say "approval of $pkg 1.0 failed"; exit 1; }
    done
    for d in "CI" "release script"; do
        curl -fs -o /dev/null -X POST "$base/api/v1/plugins/$pkg/tokens" \
            -H "Authorization: Bearer $author_token" -H 'Content-Type: application/json' \
            -d "{\"description\":\"$d\"}" || say "token creation through the API failed"
    done
}

# Measures every page on one catalog; prints the table's rows.
measure() {
    local label="$1" data="$2" owned="$3" dir
    dir="$(dirname "$data")"
    start "$data" "$dir/site" "$dir/nginx"
    local idle_kb
    idle_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$upl_pid/status")
    prepare "$data" "$owned"
    local author staff anon="$work/anon.jar"
    author=$(sign_in bw_author)
    staff=$(sign_in bw_staff)
    : >"$anon"
    local plugins versions queue
    plugins=$(sqlite3 "$data/catalog.sqlite3" "SELECT count(*) FROM plugins")
    versions=$(sqlite3 "$data/catalog.sqlite3" "SELECT count(*) FROM plugin_versions")
    queue=$(sqlite3 "$data/catalog.sqlite3" "SELECT count(*) FROM plugin_versions WHERE approved = 0")
    echo
    echo "workplace pages, $label: $plugins plugins, $versions versions, $queue awaiting review; $rounds rounds each, through nginx"
    echo "| page | median ms | p95 ms | status |"
    echo "|---|---|---|---|"
    row() { read -r med p95 status < <(page "$2" "$3"); echo "| $1 | $med | $p95 | $status |"; }
    row "login (anonymous)" "$anon" /accounts/login/
    row "/plugins/my ($((owned + 1)) plugins)" "$author" /plugins/my
    row "add form" "$author" /plugins/add/
    row "tokens (2 tokens)" "$author" "/plugins/$pkg/tokens/"
    row "review queue (staff)" "$staff" /plugins/unapproved/
    row "review page, 5 MB plugin with a diff" "$staff" "/plugins/$pkg/version/1.1/review/"
    row "user admin (staff)" "$staff" /plugins/user/bw_author/admin
    row "machine floor: static plugin page via nginx" "$anon" "/plugins/$pkg/"
    local after_kb
    after_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$upl_pid/status")
    echo "upload service RSS: idle after start $((idle_kb / 1024)) MB; idle after two 5 MB uploads and the pages $((after_kb / 1024)) MB (target ≤ 30 MB)"
    stop
}

# The demo catalog.
mkdir -p "$work/demo"
"$gen" demo --data "$work/demo/data" >/dev/null
measure "demo catalog" "$work/demo/data" 0

# N synthetic plugins (as scripts/bench.sh makes them), through a copy.
if [ "$quick" = 0 ]; then
    src="target/bench/n$n/data"
    if [ ! -f "$src/catalog.sqlite3" ]; then
        say "synthesising $n plugins into $src"
        mkdir -p "$(dirname "$src")"
        "$gen" synth --plugins "$n" --data "$src" \
            --listing ../shared/data/qgis_plugins_listing_2025-02-10.json >&2
    fi
    mkdir -p "$work/n$n/data"
    sqlite3 "$src/catalog.sqlite3" ".backup '$work/n$n/data/catalog.sqlite3'"
    cp -al "$src/packages" "$work/n$n/data/packages"
    say "building the site of $n plugins (cold)"
    measure "N=$n" "$work/n$n/data" 40
fi
