#!/usr/bin/env bash
# `make cluster`: the several-machine deployment on loopback (README "Running on several
# machines"): three Garage nodes (replication factor 3), the writer (`uploader serve`, whose
# builds publish to Garage) and two stateless nginx edges reading the bucket.
#
#   scripts/cluster.sh up            everything, in the foreground until Ctrl-C/TERM, which
#                                    stop everything it started (as `make serve`)
#   scripts/cluster.sh start NAME    start one stopped process (garage-N, writer, edge-N)
#                                    with the same settings (and the caller's environment,
#                                    e.g. PLUGINS_FAILPOINT for the writer), in the
#                                    background; returns once an edge or the writer listens
#   scripts/cluster.sh stop NAME     SIGTERM to one process
#   scripts/cluster.sh status        each process: running (pid) or stopped
#
# Settings (environment): CLUSTER_DIR (target/cluster), EDGE1_PORT (8091), EDGE2_PORT
# (8092), WRITER_PORT (8190), GARAGE_PORT_BASE (3900: node i uses base+10(i-1) +0 S3 API,
# +1 RPC, +2 web, +3 admin), PLUGINS_BASE_URL (http://127.0.0.1:$EDGE1_PORT), CLUSTER_SEED
# (demo: the demo catalog on the first run | none), CLUSTER_BUILD (1; 0: the release
# binaries are already built), CLUSTER_READY_TIMEOUT (180 s for the first publication).
#
# State under $CLUSTER_DIR: garage-{1,2,3}/ (garage.toml, meta/, data/, garage.log),
# secrets/ (the RPC secret and admin token, generated once, 0600), s3-credentials (the
# writer's key, 0600), writer/ (data/, site/, writer.log), edge-{1,2}/ (nginx prefix:
# nginx.conf, logs/access.log, logs/downloads.log, cache/), one pid file per process
# (NAME.pid), and `ready` once both edges answer plugins.xml (a line `ready URL1 URL2`).
# A second `up` reuses all of it: same secrets, layout, bucket and key.
#
# `kill -9 $(cat $CLUSTER_DIR/edge-N.pid)` stops that edge entirely (its nginx runs in a PID
# namespace of its own, see start_edge); `kill -HUP` of it (or `nginx -s reload` with its
# prefix) reloads its configuration.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CLUSTER_DIR="${CLUSTER_DIR:-target/cluster}"
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
EDGE1_PORT="${EDGE1_PORT:-8091}"
EDGE2_PORT="${EDGE2_PORT:-8092}"
WRITER_PORT="${WRITER_PORT:-8190}"
GARAGE_PORT_BASE="${GARAGE_PORT_BASE:-3900}"
export PLUGINS_BASE_URL="${PLUGINS_BASE_URL:-http://127.0.0.1:$EDGE1_PORT}"
CLUSTER_SEED="${CLUSTER_SEED:-demo}"
CLUSTER_BUILD="${CLUSTER_BUILD:-1}"
CLUSTER_READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-180}"
BUCKET=plugins
KEY_NAME=plugins-writer
NAMES=(garage-1 garage-2 garage-3 writer edge-1 edge-2)
# The pinned version is scripts/garage.sh's (its one place); `up` installs it there.
GARAGE_VERSION="$(sed -n 's/^GARAGE_VERSION=//p' "$root/scripts/garage.sh")"
garage_bin="$root/target/garage/$GARAGE_VERSION/bin/garage"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
writer_dir="$CLUSTER_DIR/writer"
credentials="$CLUSTER_DIR/s3-credentials"

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }

# ---- processes ---------------------------------------------------------------------------

pid_of() { cat "$CLUSTER_DIR/$1.pid" 2>/dev/null || true; }
# Alive: a process that is not a zombie (one killed with SIGKILL stays a zombie until its
# parent reaps it, which for a process of `start`, reparented, may never happen).
running() {
    local pid state
    pid="$(pid_of "$1")"
    [ -n "$pid" ] || return 1
    state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
known_name() {
    local n
    for n in "${NAMES[@]}"; do [ "$n" = "$1" ] && return 0; done
    die "unknown process \`$1\` (one of: ${NAMES[*]})"
}

# Starts NAME in the background, in its own session (so that the terminal's Ctrl-C reaches
# only `up`, which then stops everything in order), and records its pid.
start_one() {
    local name="$1"
    known_name "$name"
    if running "$name"; then
        say "$name is already running (pid $(pid_of "$name"))"
        return 0
    fi
    case "$name" in
        garage-*) start_garage "${name#garage-}" ;;
        writer) start_writer ;;
        edge-*) start_edge "${name#edge-}" ;;
    esac
    say "started $name (pid $(pid_of "$name"))"
}

stop_one() {
    local name="$1" pid
    known_name "$name"
    pid="$(pid_of "$name")"
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
        say "stopped $name (pid $pid)"
    fi
}

status() {
    local name
    for name in "${NAMES[@]}"; do
        if running "$name"; then
            echo "$name running (pid $(pid_of "$name"))"
        else
            echo "$name stopped"
        fi
    done
    [ ! -f "$CLUSTER_DIR/ready" ] || cat "$CLUSTER_DIR/ready"
}

# ---- Garage ------------------------------------------------------------------------------

garage_port() { echo $((GARAGE_PORT_BASE + 10 * ($1 - 1) + $2)); }
garage_toml() { echo "$CLUSTER_DIR/garage-$1/garage.toml"; }
# The Garage CLI, talking to node 1 (any node would do: it asks the cluster over RPC).
garage() { "$garage_bin" -c "$(garage_toml 1)" "$@"; }

# The secrets every node shares, generated once and kept (Garage refuses secret files
# that others can read).
ensure_secrets() {
    local dir="$CLUSTER_DIR/secrets"
    mkdir -p "$dir"
    chmod 700 "$dir"
    (
        umask 077
        [ -s "$dir/rpc-secret" ] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/rpc-secret"
        [ -s "$dir/admin-token" ] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/admin-token"
    )
}

write_garage_config() {
    local i="$1" dir="$CLUSTER_DIR/garage-$1"
    mkdir -p "$dir/meta" "$dir/data"
    cat >"$dir/garage.toml.tmp" <<EOF
# Generated by scripts/cluster.sh: node $i of the loopback cluster.
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 3
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$(garage_port "$i" 1)"
rpc_public_addr = "127.0.0.1:$(garage_port "$i" 1)"
rpc_secret_file = "$CLUSTER_DIR/secrets/rpc-secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$(garage_port "$i" 0)"
root_domain = ".s3.garage.localhost"

[s3_web]
bind_addr = "127.0.0.1:$(garage_port "$i" 2)"
root_domain = ".web.garage.localhost"
index = "index.html"

[admin]
api_bind_addr = "127.0.0.1:$(garage_port "$i" 3)"
admin_token_file = "$CLUSTER_DIR/secrets/admin-token"
EOF
    mv "$dir/garage.toml.tmp" "$dir/garage.toml"
}

start_garage() {
    local i="$1" dir="$CLUSTER_DIR/garage-$1"
    [ -x "$garage_bin" ] || die "no Garage at $garage_bin (scripts/garage.sh installs it)"
    [ -f "$dir/garage.toml" ] || die "garage-$i has no configuration: run \`$0 up\` first"
    NO_COLOR=1 RUST_LOG="${RUST_LOG:-garage=info}" setsid "$garage_bin" -c "$dir/garage.toml" server \
        >>"$dir/garage.log" 2>&1 </dev/null &
    echo $! >"$CLUSTER_DIR/garage-$i.pid"
}

# Retries a command until it succeeds (Garage's RPC and tables need a moment after a start
# or a layout change), at most $1 seconds; the command's last error if it never does.
retry() {
    local secs="$1" deadline
    shift
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>"$CLUSTER_DIR/retry.err"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            cat "$CLUSTER_DIR/retry.err" >&2
            die "\`$*\` still failing after ${secs}s"
        fi
        sleep 0.2
    done
}

node_id() { "$garage_bin" -c "$(garage_toml "$1")" node id -q 2>/dev/null; }

# Nodes 2 and 3 connected to node 1 (retried: a node just started needs a moment before its
# RPC answers), then one layout of all three with equal capacity, applied once: a cluster
# whose layout is past version 0 keeps it.
form_cluster() {
    local i ids=() version
    for i in 1 2 3; do
        retry 60 node_id "$i"
        ids+=("$(node_id "$i")")
    done
    retry 60 garage node connect "${ids[1]}"
    retry 60 garage node connect "${ids[2]}"
    retry 60 garage layout show
    version="$(garage layout show | sed -n 's/^Current cluster layout version: *//p')"
    [[ "$version" =~ ^[0-9]+$ ]] || die "no layout version in \`garage layout show\`"
    if [ "$version" = 0 ]; then
        say "assigning the layout: three nodes, equal capacity"
        garage layout assign -z loopback -c 1G "${ids[0]%@*}" "${ids[1]%@*}" "${ids[2]%@*}" >/dev/null
        garage layout apply --version 1 >/dev/null
    fi
    retry 60 garage bucket list
}

# Whether the table `garage $1 list` (bucket: its aliases; key: its names) has the word $2
# in a row.
listed() {
    local table
    table="$(garage "$1" list)" || die "\`garage $1 list\` failed"
    awk -v w="$2" 'NR > 1 { for (i = 1; i <= NF; i++) if ($i == w) found = 1 } END { exit !found }' <<<"$table"
}

# The bucket (website access on: the edges read it through the web endpoints) and the
# writer's key (read and write on it), written to s3-credentials (contract §4 format). Each
# is created only when `garage ... list` does not have it (a second `up` reuses both).
ensure_bucket_and_key() {
    listed bucket "$BUCKET" || garage bucket create "$BUCKET" >/dev/null
    garage bucket website --allow "$BUCKET" >/dev/null
    listed key "$KEY_NAME" || garage key create "$KEY_NAME" >/dev/null
    garage bucket allow --read --write "$BUCKET" --key "$KEY_NAME" >/dev/null
    local id secret
    id="$(garage key info --key-id "$KEY_NAME" | tr -d ' \n')"
    secret="$(garage key info --secret-key "$KEY_NAME" | tr -d ' \n')"
    [[ "$id" =~ ^GK[0-9a-f]+$ ]] && [ -n "$secret" ] ||
        die "could not read the key $KEY_NAME from \`garage key info\`"
    (
        umask 077
        printf '# The writer'"'"'s Garage key (scripts/cluster.sh): bucket %s, read and write.\naccess_key_id = %s\nsecret_access_key = %s\n' \
            "$BUCKET" "$id" "$secret" >"$credentials.tmp"
    )
    mv "$credentials.tmp" "$credentials"
}

# ---- the writer --------------------------------------------------------------------------

edge_prefix() { echo "$CLUSTER_DIR/edge-$1"; }

# The S3 flags of contract §4, when this build of the binary ($1 ...: its command) has them.
s3_flags() {
    if "$@" --help 2>/dev/null | grep -q -- '--s3-endpoint'; then
        echo "--s3-endpoint http://127.0.0.1:$(garage_port 1 0) --s3-bucket $BUCKET --s3-credentials-file $credentials"
    fi
}

# Both edges' downloads logs (each counted from its own position), when `uploader serve`
# takes several; else the first edge's only (said at `up`).
downloads_log_flags() {
    local a b
    a="$(edge_prefix 1)/logs/downloads.log"
    b="$(edge_prefix 2)/logs/downloads.log"
    if target/release/uploader serve --downloads-log "$a" --downloads-log "$b" --help >/dev/null 2>&1; then
        echo "--downloads-log $a --downloads-log $b"
    else
        echo "--downloads-log $a"
    fi
}

writer_args() {
    echo "--data $writer_dir/data --site $writer_dir/site --templates $root/templates"
    echo "--base-url $PLUGINS_BASE_URL --listen 127.0.0.1:$WRITER_PORT --generate-secret"
    echo "--scan-venv $root/target/scan-venv"
    downloads_log_flags
    s3_flags target/release/uploader serve
}

start_writer() {
    mkdir -p "$writer_dir/data" "$writer_dir/site" "$(edge_prefix 1)/logs" "$(edge_prefix 2)/logs"
    # shellcheck disable=SC2046 # the flags are words without spaces (checked paths)
    setsid target/release/uploader serve $(writer_args) >>"$writer_dir/writer.log" 2>&1 </dev/null &
    echo $! >"$CLUSTER_DIR/writer.pid"
    wait_listening writer "$WRITER_PORT" "$writer_dir/writer.log"
}

# Started means answering: `start writer` returns once the service accepts connections (the
# edges' service paths would answer 503 before), at most 60 s.
wait_listening() {
    local name="$1" port="$2" log="$3" deadline=$((SECONDS + 60))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        running "$name" || die "$name stopped at its start (see $log)"
        [ "$SECONDS" -lt "$deadline" ] || die "$name does not listen on 127.0.0.1:$port after 60 s (see $log)"
        sleep 0.05
    done
}

# The demo catalog on the first run, then one build published to the bucket (the writer
# rebuilds after every change; this is the first release the edges serve).
seed_and_build() {
    mkdir -p "$writer_dir/data" "$writer_dir/site"
    if [ "$CLUSTER_SEED" = demo ]; then
        target/release/generator demo --data "$writer_dir/data" --if-empty
    fi
    local s3
    s3="$(s3_flags target/release/generator build)"
    [ -n "$s3" ] || say "WARNING: \`generator build\` has no --s3-endpoint yet: nothing is published to the bucket, the edges will answer 404"
    say "building the site for $PLUGINS_BASE_URL and publishing it to the bucket $BUCKET"
    # shellcheck disable=SC2086 # flags without spaces
    target/release/generator build --data "$writer_dir/data" --site "$writer_dir/site" \
        --templates "$root/templates" --base-url "$PLUGINS_BASE_URL" $s3
}

# ---- the edges ---------------------------------------------------------------------------

edge_port() { if [ "$1" = 1 ]; then echo "$EDGE1_PORT"; else echo "$EDGE2_PORT"; fi; }

render_edge() {
    local n="$1" webs
    webs="127.0.0.1:$(garage_port 1 2),127.0.0.1:$(garage_port 2 2),127.0.0.1:$(garage_port 3 2)"
    nginx/render.sh --edge --prefix "$(edge_prefix "$n")" --listen "127.0.0.1:$(edge_port "$n")" \
        --uploader "127.0.0.1:$WRITER_PORT" --garage-web "$webs" --bucket "$BUCKET" \
        --data-root "$writer_dir/data" --daemon off --workers 2 >/dev/null
}

# nginx's workers outlive a master killed with SIGKILL (and keep serving): each edge runs
# as the first process of a PID namespace of its own, whose end the kernel makes the end of
# all of them, so `kill -9 $(cat edge-N.pid)` stops the edge as a lost machine would be.
# Without namespaces (no root, or a container that forbids them): one nginx process
# (`master_process off`), which SIGKILL stops just as well.
edge_isolation() {
    if unshare --pid --fork --kill-child true >/dev/null 2>&1; then
        echo namespace
    else
        echo single
    fi
}

# The pid of the nginx under the process $1 (setsid, unshare): the first descendant that
# runs nginx, once forked.
nginx_pid_under() {
    local pid="$1" child deadline=$((SECONDS + 10))
    while [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != nginx ]; do
        child="$(cat /proc/"$pid"/task/*/children 2>/dev/null | awk '{ print $1; exit }')"
        if [ -n "$child" ]; then
            pid="$child"
        elif ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        else
            sleep 0.05
        fi
    done
    echo "$pid"
}

start_edge() {
    local n="$1" prefix launcher pid
    prefix="$(edge_prefix "$n")"
    [ -f "$prefix/nginx.conf" ] || render_edge "$n"
    # The hop servers' sockets of an nginx that was killed are left behind; a new one
    # cannot bind them.
    rm -f "$prefix"/xml-hop-*.sock "$prefix/nginx.pid"
    local nginx_cmd=("$nginx_bin" -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf")
    if [ "$(edge_isolation)" = namespace ]; then
        setsid unshare --pid --fork --kill-child "${nginx_cmd[@]}" \
            >>"$prefix/logs/error.log" 2>&1 </dev/null &
    else
        setsid "${nginx_cmd[@]}" -g "master_process off;" >>"$prefix/logs/error.log" 2>&1 </dev/null &
    fi
    launcher=$!
    pid="$(nginx_pid_under "$launcher")" || die "edge-$n did not start (see $prefix/logs/error.log)"
    echo "$pid" >"$CLUSTER_DIR/edge-$n.pid"
    [ "$(edge_isolation)" = single ] || own_pid_file "$prefix/nginx.pid" "$pid"
}

# nginx writes its pid as its namespace sees it (1) to its pid file, which `nginx -s
# reload` signals: once written, it gets the pid the machine knows it by.
own_pid_file() {
    local file="$1" pid="$2" deadline=$((SECONDS + 10))
    until [ "$(cat "$file" 2>/dev/null)" = 1 ]; do
        kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] ||
            die "$file: nginx (pid $pid) did not write it (see $(dirname "$file")/logs/error.log)"
        sleep 0.05
    done
    echo "$pid" >"$file"
}

edge_answers() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        "http://127.0.0.1:$(edge_port "$1")/plugins/plugins.xml?qgis=3.34")" = 200 ]
}

# Both edges answer plugins.xml from the bucket (the first publication is complete).
wait_ready() {
    local deadline=$((SECONDS + CLUSTER_READY_TIMEOUT)) name
    until edge_answers 1 && edge_answers 2; do
        for name in "${NAMES[@]}"; do
            running "$name" || die "$name stopped (see its log under $CLUSTER_DIR)"
        done
        [ "$SECONDS" -lt "$deadline" ] ||
            die "the edges do not answer /plugins/plugins.xml?qgis=3.34 with 200 after ${CLUSTER_READY_TIMEOUT}s (is the site published to the bucket? see $writer_dir/writer.log)"
        sleep 0.2
    done
    local line="ready http://127.0.0.1:$EDGE1_PORT http://127.0.0.1:$EDGE2_PORT"
    echo "$line" >"$CLUSTER_DIR/ready.tmp"
    mv "$CLUSTER_DIR/ready.tmp" "$CLUSTER_DIR/ready"
    echo "$line"
}

# ---- up ----------------------------------------------------------------------------------

sleeper=""
stop_all() {
    trap - EXIT INT TERM
    local i
    [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
    rm -f "$CLUSTER_DIR/ready"
    for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
        stop_one "${NAMES[i]}" 2>/dev/null || true
    done
    wait_stopped 30
}

# Returns once every process has exited (Garage takes a few seconds to stop its workers);
# after $1 seconds, the ones left get SIGKILL (the writer with its build child: its process
# group; an edge's workers end with it, see start_edge).
wait_stopped() {
    local deadline=$((SECONDS + $1)) name left
    while true; do
        left=()
        for name in "${NAMES[@]}"; do running "$name" && left+=("$name"); done
        [ ${#left[@]} -gt 0 ] || return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "still running after $1 s, killed: ${left[*]}"
            for name in "${left[@]}"; do
                if [ "$name" = writer ]; then
                    kill -KILL -- "-$(pid_of writer)" 2>/dev/null || true
                else
                    kill -KILL "$(pid_of "$name")" 2>/dev/null || true
                fi
            done
            return 0
        fi
        sleep 0.1
    done
}

prepare() {
    scripts/ensure-deps.sh cluster
    garage_bin="$(scripts/garage.sh)"
    if [ "$CLUSTER_BUILD" != 0 ]; then
        say "building release binaries"
        cargo build --release -p generator -p uploader
    fi
    if ! target/release/uploader serve --help | grep -q -- '--s3-endpoint'; then
        say "WARNING: \`uploader serve\` has no --s3-endpoint yet: its rebuilds are not published"
    fi
    [[ "$(downloads_log_flags)" == *" --downloads-log "* ]] ||
        say "WARNING: \`uploader serve\` counts one downloads log: edge-2's downloads are not counted"
}

up() {
    rm -f "$CLUSTER_DIR/ready"
    prepare
    trap stop_all EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ensure_secrets
    local i
    for i in 1 2 3; do
        write_garage_config "$i"
        start_one "garage-$i"
    done
    form_cluster
    ensure_bucket_and_key
    seed_and_build
    start_one writer
    for i in 1 2; do
        render_edge "$i"
        "$nginx_bin" -t -q -p "$(edge_prefix "$i")" -e "$(edge_prefix "$i")/logs/error.log" \
            -c "$(edge_prefix "$i")/nginx.conf"
        start_one "edge-$i"
    done
    wait_ready
    say "serving http://127.0.0.1:$EDGE1_PORT/ and http://127.0.0.1:$EDGE2_PORT/ (state in $CLUSTER_DIR); Ctrl-C stops"
    # Until a signal: the traps then stop every process (also those `start` restarted).
    while true; do
        sleep 3600 &
        sleeper=$!
        wait "$sleeper" || true
    done
}

case "${1:-}" in
    up) up ;;
    start) [ $# -eq 2 ] || die "usage: $0 start NAME"; start_one "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop NAME"; stop_one "$2" ;;
    status) status ;;
    *) die "usage: $0 up | start NAME | stop NAME | status (see the header of this script)" ;;
esac
