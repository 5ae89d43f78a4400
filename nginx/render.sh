#!/usr/bin/env bash
# Renders nginx/site.conf.in into a complete nginx.conf for this machine, with the include
# files it names (nginx/*.conf) beside it, and prepares its runtime dir (logs/, tmp/).
# Prints the path of the rendered file.
#
#   nginx/render.sh --prefix DIR --site-root DIR [--listen ADDR] [--uploader ADDR]
#                   [--max-upload-bytes BYTES] [--max-body BYTES] [--max-body-rpc BYTES]
#                   [--daemon on|off] [--workers N|auto] [--user NAME] [--data-root DIR]
#                   [--out FILE]
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
data_root="${PLUGINS_DATA_DIR:-data}"

die() { echo "render.sh: $*" >&2; exit 2; }

parse_args() {
    while [ $# -gt 0 ]; do
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
            *) die "unknown option $1 (see the header of this script)" ;;
        esac
        shift 2
    done
    [ -n "$prefix" ] || die "--prefix DIR is required"
    [ -n "$site_root" ] || die "--site-root DIR is required (the site's \`current\` symlink)"
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
}

# Absolute paths for the runtime dir, the site and the data dir; the dirs nginx needs.
resolve_paths() {
    mkdir -p "$prefix/logs" "$prefix/tmp"
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
        -e "s|@VER_RE@|$(sed_text "$VER_RE")|g"
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

parse_args "$@"
derive_body_limits
check_values
resolve_paths
user_line="$(user_directive)"
render_includes
render_main
echo "$out"
