#!/usr/bin/env bash
# Installs the system packages a target needs, only when they are missing (Debian, as root).
#
#   scripts/ensure-deps.sh serve    nginx
#   scripts/ensure-deps.sh test     nginx, python3-qgis (QGIS's Python bindings and its own
#                                   plugin installer, for the end-to-end test)
#
# Nothing is skipped silently: if a package cannot be installed this script fails, and the
# tests that need it fail too.
set -euo pipefail

need_nginx() { ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; }
need_qgis() {
    ! /usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1 ||
        [ ! -f /usr/share/qgis/python/pyplugin_installer/installer_data.py ]
}

packages=()
case "${1:-}" in
    serve) need_nginx && packages+=(nginx) ;;
    test)
        need_nginx && packages+=(nginx)
        need_qgis && packages+=(python3-qgis)
        ;;
    *) echo "usage: $0 serve|test" >&2; exit 2 ;;
esac
[ ${#packages[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure-deps: need root (or sudo) to install ${packages[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "ensure-deps: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
