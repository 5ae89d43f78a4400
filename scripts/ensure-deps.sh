#!/usr/bin/env bash
# Installs the system packages a target needs, only when they are missing (Debian, as root).
#
#   scripts/ensure-deps.sh serve    nginx
#   scripts/ensure-deps.sh test     nginx, python3-qgis (QGIS's Python bindings and its own
#                                   plugin installer, for the end-to-end test), chromium,
#                                   Java and Node.js, then the site tests' npm packages
#                                   (tests/site: vnu-jar, playwright-core, axe-core) from their
#                                   lock file
#                                   and qgis-plugin-ci 2.10.0 in target/venv-qpc (upload e2e),
#                                   aiosmtpd in target/mail-venv (the tests' SMTP server),
#                                   Garage in target/garage (scripts/garage.sh: the cluster
#                                   test's object store, compiled once)
#   cluster                         nginx and Garage (scripts/cluster.sh)
#   all three                            the scan tools in target/scan-venv (scripts/scan-tools.sh)
#
# Nothing is skipped silently: if a package cannot be installed this script fails, and the
# tests that need it fail too.
set -euo pipefail

need_nginx() { ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; }
need_chromium() { [ ! -x /usr/bin/chromium ]; }
need_java() { ! command -v java >/dev/null 2>&1; }
need_node() { ! command -v node >/dev/null 2>&1; }
need_npm() { ! command -v npm >/dev/null 2>&1; }
site_tools="$(cd "$(dirname "$0")/.." && pwd)/tests/site"
need_site_tools() {
    [ ! -f "$site_tools/node_modules/vnu-jar/build/dist/vnu.jar" ] ||
        [ ! -f "$site_tools/node_modules/playwright-core/package.json" ] ||
        [ ! -f "$site_tools/node_modules/axe-core/axe.min.js" ]
}
need_qgis() {
    ! /usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1 ||
        [ ! -f /usr/share/qgis/python/pyplugin_installer/installer_data.py ]
}

packages=()
case "${1:-}" in
    serve | cluster) need_nginx && packages+=(nginx) ;;
    test)
        need_nginx && packages+=(nginx)
        need_qgis && packages+=(python3-qgis)
        need_chromium && packages+=(chromium)
        need_java && packages+=(openjdk-17-jre-headless)
        need_node && packages+=(nodejs)
        need_npm && packages+=(npm)
        ;;
    *) echo "usage: $0 serve|test|cluster" >&2; exit 2 ;;
esac

# qgis-plugin-ci (PyPI) for the upload end-to-end test (tests/it/upload_e2e.rs), in a venv
# under target/ made with the python3 on PATH (no root needed); nothing happens when the
# pinned version is already there.
QPC_VERSION=2.10.0
ensure_qgis_plugin_ci() {
    local venv
    venv="$(cd "$(dirname "$0")/.." && pwd)/target/venv-qpc"
    if [ -x "$venv/bin/qgis-plugin-ci" ] && "$venv/bin/python" -c \
        "import importlib.metadata as m, sys; sys.exit(m.version('qgis-plugin-ci') != '$QPC_VERSION')" \
        >/dev/null 2>&1; then
        return 0
    fi
    echo "ensure-deps: installing qgis-plugin-ci==$QPC_VERSION in $venv" >&2
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "qgis-plugin-ci==$QPC_VERSION"
}
if [ "$1" = test ]; then
    ensure_qgis_plugin_ci
fi

# The scan tools (Bandit, detect-secrets) the service runs on every upload, pinned, in
# target/scan-venv; the tests' SMTP server (aiosmtpd) in target/mail-venv.
"$(dirname "$0")/scan-tools.sh"
AIOSMTPD_VERSION=1.4.6
ensure_mail_server() {
    local venv
    venv="$(cd "$(dirname "$0")/.." && pwd)/target/mail-venv"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c \
        "import importlib.metadata as m, sys; sys.exit(m.version('aiosmtpd') != '$AIOSMTPD_VERSION')" \
        >/dev/null 2>&1; then
        return 0
    fi
    echo "ensure-deps: installing aiosmtpd==$AIOSMTPD_VERSION in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "aiosmtpd==$AIOSMTPD_VERSION"
}
if [ "$1" = test ]; then
    ensure_mail_server
fi

# Garage, the replicated object store of `make cluster` and of the cluster test: pinned,
# compiled once with `cargo install --locked` and cached under target/garage/.
if [ "$1" = test ] || [ "$1" = cluster ]; then
    "$(dirname "$0")/garage.sh" >/dev/null
fi

# The site tests' npm packages, pinned by tests/site/package-lock.json (no root needed).
site_npm() {
    if [ "$1" = test ] && need_site_tools; then
        echo "ensure-deps: npm ci in $site_tools" >&2
        npm ci --prefix "$site_tools" --no-audit --no-fund
    fi
}
if [ ${#packages[@]} -eq 0 ]; then
    site_npm "$1"
    exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure-deps: need root (or sudo) to install ${packages[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "ensure-deps: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
site_npm "$1"
