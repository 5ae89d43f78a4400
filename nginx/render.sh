#!/usr/bin/env bash
# Renders nginx/site.conf.in into a complete nginx.conf for this machine, with the include
# files it names (nginx/*.conf) beside it, and prepares its runtime dir (logs/, tmp/).
# Prints the path of the rendered file.
#
#   nginx/render.sh --prefix DIR --site-root DIR [--listen ADDR] [--uploader ADDR]
#                   [--max-upload-bytes BYTES] [--max-body BYTES] [--max-body-rpc BYTES]
#                   [--daemon on|off] [--workers N|auto] [--user NAME] [--data-root DIR]
#                   [--out FILE]
#   nginx/render.sh --edge --prefix DIR --garage-web ADDR[,ADDR...] [--bucket NAME]
#                   [--listen ADDR] [--uploader ADDR] [--data-root DIR] [...as above]
#
# Then:  nginx -p DIR -e DIR/logs/error.log -c DIR/nginx.conf
#
# Defaults: listen 127.0.0.1:8080, uploader 127.0.0.1:8081, daemon off, workers auto, out
# DIR/nginx.conf. --site-root is the dir nginx serves: the `current` symlink of the site
# dir. --user: when run as root, the user nginx's workers run as; by default the owner of
# the site dir, so they can read what the generator wrote. --data-root: the data dir
# (default $PLUGINS_DATA_DIR, else data), whose packages/ folder nginx sends unapproved
# versions from to their editors (X-Accel-Redirect).
#
# Body limits: --max-upload-bytes is the upload service's limit (default
# $PLUGINS_MAX_UPLOAD_BYTES, the variable the service reads, else nginx/limits.env, the
# service's own default: 25 MB). nginx's limits are derived from it so that they stay above
# the service's (which must answer first, with its clear message): --max-body is the
# service's multipart limit rounded up to a MiB (26214400 by default), --max-body-rpc 7/5 of
# that for base64 XML-RPC (36700160). Either can still be given explicitly.
#
# Location capture patterns come from nginx/patterns.env (@PKG_RE@, @VER_RE@).
#
# --edge renders nginx/edge.conf.in instead: one stateless edge of the several-machine
# deployment (scripts/cluster.sh), which reads every object from the Garage web endpoints
# --garage-web (HOST:PORT, comma-separated: one upstream) in the bucket --bucket (default
# plugins), proxies the service's paths to --uploader (the writer), and needs no site dir.
# It writes two generated includes beside the others: edge-upstream.conf (the endpoints)
# and edge-plugins-xml.conf (the plugins.xml chain, read from plugins-xml.conf's
# try_files, so both modes walk the same documents). Without --edge, the edge-*.conf
# files are left out and the output is what it always was.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=patterns.env
source "$here/patterns.env"
# shellcheck source=limits.env
source "$here/limits.env"

template="$here/site.conf.in"
prefix="" site_root="" listen="127.0.0.1:8080" uploader="127.0.0.1:8081"
max_upload="${PLUGINS_MAX_UPLOAD_BYTES:-$MAX_UPLOAD_BYTES}" max_body="" max_body_rpc=""
daemon="off" workers="auto" user="" out=""
edge="" garage_web="" bucket="plugins"
data_root="${PLUGINS_DATA_DIR:-data}"

die() { echo "render.sh: $*" >&2; exit 2; }

parse_args() {
    while [ $# -gt 0 ]; do
        if [ "$1" = --edge ]; then
            edge=1 template="$here/edge.conf.in"
            shift
            continue
        fi
        [ $# -ge 2 ] || die "option $1 needs a value"
        case "$1" in
            --prefix) prefix="$2" ;;
            --site-root) site_root="$2" ;;
            --listen) listen="$2" ;;
            --uploader) uploader="$2" ;;
            --max-upload-bytes) max_upload="$2" ;;
            --max-body) max_body="$2" ;;
            --max-body-rpc) max_body_rpc="$2" ;;
            --daemon) daemon="$2" ;;
            --workers) workers="$2" ;;
            --user) user="$2" ;;
            --data-root) data_root="$2" ;;
            --out) out="$2" ;;
            --template) template="$2" ;;
            --garage-web) garage_web="$2" ;;
            --bucket) bucket="$2" ;;
            *) die "unknown option $1 (see the header of this script)" ;;
        esac
        shift 2
    done
    [ -n "$prefix" ] || die "--prefix DIR is required"
    if [ -n "$edge" ]; then
        [ -n "$garage_web" ] || die "--edge needs --garage-web HOST:PORT[,HOST:PORT...]"
        [ -z "$site_root" ] || die "--site-root is not an option of --edge (the site is in the bucket)"
        site_root="/nonexistent"
    else
        [ -n "$site_root" ] || die "--site-root DIR is required (the site's \`current\` symlink)"
    fi
    [ -r "$template" ] || die "template $template not found"
}

# nginx's body limits from the service's upload limit, unless given explicitly. The
# service accepts a multipart body of its limit + 256 KiB (uploader ServiceConfig::
# max_multipart_bytes) and an XML-RPC body of 1.4 times its limit + 64 KiB
# (max_xmlrpc_bytes); tests/it/nginx_conf.rs checks that these stay above both.
derive_body_limits() {
    [[ "$max_upload" =~ ^[0-9]+$ ]] || die "--max-upload-bytes \`$max_upload\` must be a number of bytes"
    local mib=$((1024 * 1024))
    local multipart=$((max_upload + 256 * 1024))
    [ -n "$max_body" ] || max_body=$(((multipart + mib - 1) / mib * mib))
    [ -n "$max_body_rpc" ] || max_body_rpc=$(((max_body * 7 + 4) / 5))
    max_upload_mb="$(awk -v b="$max_upload" 'BEGIN { printf "%g", b / 1000000 }')"
}

# Values end up inside nginx directives: refuse anything that could break out of them.
safe() { [[ "$2" =~ ^[A-Za-z0-9_./:@+-]+$ ]] || die "$1 \`$2\` contains characters nginx.conf cannot take unquoted"; }

check_values() {
    [[ "$listen" =~ ^([0-9.]+:)?[0-9]+$|^\[[0-9a-fA-F:]+\]:[0-9]+$ ]] || die "--listen \`$listen\` must be PORT or HOST:PORT"
    [[ "$uploader" =~ ^[A-Za-z0-9.-]+:[0-9]+$|^\[[0-9a-fA-F:]+\]:[0-9]+$|^unix:/[A-Za-z0-9_./-]+$ ]] || die "--uploader \`$uploader\` must be HOST:PORT or unix:/path"
    [[ "$max_body" =~ ^[0-9]+[kKmM]?$ ]] || die "--max-body \`$max_body\` must be a size such as 26214400"
    [[ "$max_body_rpc" =~ ^[0-9]+[kKmM]?$ ]] || die "--max-body-rpc \`$max_body_rpc\` must be a size"
    [[ "$daemon" =~ ^(on|off)$ ]] || die "--daemon must be on or off"
    [[ "$workers" =~ ^([0-9]+|auto)$ ]] || die "--workers must be a number or auto"
    [[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "--bucket \`$bucket\` is not a bucket name"
    local addr
    for addr in ${garage_web//,/ }; do
        [[ "$addr" =~ ^[A-Za-z0-9.-]+:[0-9]+$|^\[[0-9a-fA-F:]+\]:[0-9]+$ ]] || die "--garage-web \`$addr\` must be HOST:PORT"
    done
}

# Absolute paths for the runtime dir, the site and the data dir; the dirs nginx needs.
resolve_paths() {
    mkdir -p "$prefix/logs" "$prefix/tmp"
    [ -z "$edge" ] || mkdir -p "$prefix/cache"
    prefix="$(cd "$prefix" && pwd)"
    case "$site_root" in /*) ;; *) site_root="$(pwd)/$site_root" ;; esac
    case "$data_root" in /*) ;; *) data_root="$(pwd)/$data_root" ;; esac
    data_root="${data_root%/}"
    safe --prefix "$prefix"
    safe --site-root "$site_root"
    safe --data-root "$data_root"
    [ -n "$out" ] || out="$prefix/nginx.conf"
    conf_dir="$(cd "$(dirname "$out")" && pwd)"
    safe "the output dir" "$conf_dir"
}

# The `user` directive: only a master running as root may switch users.
user_directive() {
    [ "$(id -u)" = 0 ] || return 0
    if [ -z "$user" ]; then
        # The owner of the site dir (the parent of `current`, which may not exist yet).
        user="$(stat -c %U "$(dirname "$site_root")" 2>/dev/null || echo root)"
    fi
    [[ "$user" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "--user \`$user\` is not a user name"
    echo "user $user;"
}

# A value as the replacement text of a sed `s|...|...|`: `\`, `&` and `|` taken literally
# (the capture patterns hold all three).
sed_text() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

# Substitutes every placeholder on stdin.
substitute() {
    sed -e "s|@PREFIX@|$(sed_text "$prefix")|g" \
        -e "s|@SITE_ROOT@|$(sed_text "$site_root")|g" \
        -e "s|@LISTEN@|$(sed_text "$listen")|g" \
        -e "s|@UPLOADER@|$(sed_text "$uploader")|g" \
        -e "s|@MAX_BODY@|$(sed_text "$max_body")|g" \
        -e "s|@MAX_BODY_RPC@|$(sed_text "$max_body_rpc")|g" \
        -e "s|@MAX_UPLOAD_MB@|$(sed_text "$max_upload_mb")|g" \
        -e "s|@DAEMON@|$(sed_text "$daemon")|g" \
        -e "s|@WORKERS@|$(sed_text "$workers")|g" \
        -e "s|@DATA_ROOT@|$(sed_text "$data_root")|g" \
        -e "s|@CONF_DIR@|$(sed_text "$conf_dir")|g" \
        -e "s|@USER@|$(sed_text "$user_line")|g" \
        -e "s|@PKG_RE@|$(sed_text "$PKG_RE")|g" \
        -e "s|@VER_RE@|$(sed_text "$VER_RE")|g" \
        -e "s|@BUCKET@|$(sed_text "$bucket")|g"
}

# Writes stdin, substituted, to $2 (atomically), refusing placeholders left unsubstituted
# in the source $1.
write_rendered() {
    local src="$1" dst="$2" tmp="$2.tmp.$$"
    substitute >"$tmp"
    if grep -n '@[A-Z_]*@' "$tmp" >&2; then
        rm -f "$tmp"
        die "unsubstituted placeholders left in $src (see above)"
    fi
    mv "$tmp" "$dst"
}

# Every include (nginx/*.conf: each concern, the proxy block, the header snippets) goes
# beside the rendered file, where the main file includes them from (@CONF_DIR@).
render_includes() {
    local src
    for src in "$here"/*.conf; do
        # The edge's own includes only for an edge (the single machine's output is unchanged).
        [[ -n "$edge" || "$(basename "$src")" != edge-* ]] || continue
        {
            echo "# Generated by nginx/render.sh from $src: edit that file, not this one."
            cat "$src"
        } | write_rendered "$src" "$conf_dir/$(basename "$src")"
    done
}

render_main() {
    {
        echo "# Generated by nginx/render.sh from $template: edit the template, not this file."
        echo "# Run: nginx -p $prefix -e $prefix/logs/error.log -c $out"
        # The template's header (up to the first blank line) documents the placeholders.
        sed -e '1,/^$/d' "$template"
    } | write_rendered "$template" "$out"
}

# The edge's upstream of Garage web endpoints, one `server` per --garage-web address: a
# node that fails is left alone 5 s (its requests go to the next one meanwhile).
render_edge_upstream() {
    local addr
    {
        echo "# Generated by nginx/render.sh --edge from --garage-web: the Garage web endpoints."
        echo "upstream garage_web {"
        for addr in ${garage_web//,/ }; do
            echo "    server $addr max_fails=1 fail_timeout=5s;"
        done
        echo "    keepalive 16;"
        echo "}"
    } >"$conf_dir/edge-upstream.conf"
}

# The steps of the plugins.xml chain: the arguments of the try_files of plugins-xml.conf's
# `location = /plugins/plugins.xml`, without its final =404.
xml_chain_steps() {
    sed -n '/^location = \/plugins\/plugins.xml {/,/^}/p' "$here/plugins-xml.conf" |
        sed -n '/try_files/,/;/p' | sed -e 's/try_files//' -e 's/;//' | tr -s ' \n' '\n' |
        grep -v -e '^$' -e '^=404$'
}

# nginx allows a request 10 internal redirects (each `error_page 404 = @next` is one);
# the chain has more steps than that. Its first MAIN_STEPS steps are walked in the edge's
# server (after a legacy spelling's rewrite, and leaving room for the jump to the hop and
# the 404 page), the rest in hop servers of the same nginx on unix sockets under --prefix,
# HOP_STEPS each: a hop is a new request, with a budget of its own.
MAIN_STEPS=7
HOP_STEPS=10

# The `.gz` suffix a step's object is asked with: site-wide documents (`/plugins/xml/...`)
# all have their `.gz` object (gzip clients walk the `.gz` objects only, others the plain
# ones: one object, one redirect per step); a package's own documents have none (nginx
# compresses them on the fly). $edge_xml_gz (edge.conf.in) tells which $xml_prefix names.
xml_step_suffix() {
    case "$1" in
        '${xml_prefix}'*) echo '$edge_xml_gz' ;;
        /plugins/xml/*) echo '$edge_gz' ;;
        *) die "plugins.xml step \`$1\` is neither site-wide nor \${xml_prefix}: which .gz does it have?" ;;
    esac
}

# One step: the location asking for the step's object, then on a 404 $3: the next step or
# the hop to the next segment (`@...`), the 404 page (the end, in the edge's server), or
# nothing (the end, in a hop server: the 404 goes back to the server that asked).
xml_chain_step() {
    local n="$1" step="$2" next="$3" first="$4"
    if [ -n "$first" ]; then echo "location = /plugins/plugins.xml {"; else echo "location @xml_$n {"; fi
    echo "    rewrite ^ $step$(xml_step_suffix "$step") break;"
    case "$next" in
        @*) echo "    error_page 404 = $next;" ;;
        /*) echo "    error_page 404 $next;" ;;
    esac
    echo "    include @CONF_DIR@/edge-plugins-xml-step.conf;"
    echo "}"
}

# The jump to hop server $1: the request as the client's (same arguments, same
# Accept-Encoding) to the hop's socket, whose answer passes as it is ($2: the edge's server
# turns a 404 into its 404 page).
xml_chain_hop() {
    local k="$1" in_edge="$2"
    echo "location @xml_hop_$k {"
    echo "    rewrite ^ /plugins/plugins.xml break;"
    [ -z "$in_edge" ] || echo "    error_page 404 /404.html;"
    echo "    proxy_pass http://edge_xml_hop_$k;"
    echo "    include @CONF_DIR@/edge-plugins-xml-hop.conf;"
    echo "}"
}

# Steps $2..$3 (1-based, of the array `steps`) as one segment; $1: its hop number (0: the
# edge's server).
xml_chain_segment() {
    local k="$1" from="$2" to="$3" count="${#steps[@]}" n next
    for ((n = from; n <= to; n++)); do
        next=""
        if [ "$n" -lt "$to" ]; then
            next="@xml_$((n + 1))"
        elif [ "$n" -lt "$count" ]; then
            next="@xml_hop_$((k + 1))"
        elif [ "$k" = 0 ]; then
            next="/404.html"
        fi
        xml_chain_step "$n" "${steps[n - 1]}" "$next" "$([ "$n" -eq "$from" ] && echo first)"
    done
    [ "$to" -ge "$count" ] || xml_chain_hop $((k + 1)) "$([ "$k" = 0 ] && echo edge)"
}

# The hop servers (http level): one upstream and one server per segment after the first.
# Unix socket paths are limited to 107 bytes.
xml_chain_hops() {
    local count="${#steps[@]}" k=1 from=$((MAIN_STEPS + 1)) to sock
    while [ "$from" -le "$count" ]; do
        to=$((from + HOP_STEPS - 1))
        [ "$to" -le "$count" ] || to="$count"
        sock="$prefix/xml-hop-$k.sock"
        [ "${#sock}" -lt 100 ] || die "--prefix is too long for the socket $sock (unix sockets: < 100 bytes)"
        echo "# Steps $from to $to of the chain."
        echo "upstream edge_xml_hop_$k {"
        echo "    server unix:$sock;"
        echo "    keepalive 8;"
        echo "}"
        echo "server {"
        echo "    listen unix:$sock;"
        echo "    server_name _;"
        echo "    access_log off;"
        echo "    recursive_error_pages on;"
        echo "    proxy_intercept_errors on;"
        xml_chain_segment "$k" "$from" "$to" | sed -e 's/^/    /'
        echo "}"
        from=$((to + 1)) k=$((k + 1))
    done
}

render_edge_plugins_xml() {
    local count main_to
    mapfile -t steps < <(xml_chain_steps)
    count="${#steps[@]}"
    [ "$count" -gt 3 ] || die "could not read the plugins.xml chain from $here/plugins-xml.conf"
    main_to=$((count < MAIN_STEPS ? count : MAIN_STEPS))
    {
        echo "# Generated by nginx/render.sh --edge from the try_files of $here/plugins-xml.conf:"
        echo "# /plugins/plugins.xml?qgis=... walks the same $count documents, one object each;"
        echo "# steps 1 to $main_to here, the rest in the hop servers of edge-plugins-xml-hops.conf."
        xml_chain_segment 0 1 "$main_to"
    } | write_rendered "$here/plugins-xml.conf" "$conf_dir/edge-plugins-xml.conf"
    {
        echo "# Generated by nginx/render.sh --edge from the try_files of $here/plugins-xml.conf:"
        echo "# the hop servers of the plugins.xml chain (edge-plugins-xml.conf walks its first steps)."
        xml_chain_hops
    } | write_rendered "$here/plugins-xml.conf" "$conf_dir/edge-plugins-xml-hops.conf"
}

parse_args "$@"
derive_body_limits
check_values
resolve_paths
user_line="$(user_directive)"
render_includes
if [ -n "$edge" ]; then
    render_edge_upstream
    render_edge_plugins_xml
fi
render_main
echo "$out"
