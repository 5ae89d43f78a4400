#!/usr/bin/python3
"""Drives QGIS's own plugin installer (python/pyplugin_installer) headless against one
repository and prints, as JSON on stdout, what it offers and what an install did.

Run with the system Python that has Debian's python3-qgis:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 installer_probe.py \
        --repo-url http://127.0.0.1:PORT/plugins/plugins.xml --profile DIR \
        [--pretend-version 4.0.0] [--install PLUGIN_ID [--experimental]]

It follows qgis-clients.md §2: a throw-away profile (settings, network disk cache, plugins
folder and temp dir all under --profile), our repository registered under QGIS's own
settings keys with the official repository disabled, `Repositories` / `Plugins` to fetch
and parse, and `QgsPluginInstallerInstallingDialog` to download and unzip. All network I/O
goes through QgsNetworkAccessManager, so User-Agent, cache and redirects are QGIS's own.

--pretend-version replaces Qgis.QGIS_VERSION, the constant QGIS's own version function
(`version_compare.pyQgisVersion`) reads: the request then carries `?qgis=X.Y` of that
version and the client-side compatibility check filters as that QGIS would.

The last step of a real install (loading the plugin into the main window) needs `iface`;
this probe repeats its checks instead: the folder exists, a metadata re-scan shows no
error, and the package imports and has `classFactory`.

Exit status: 0 when the probe ran (the caller judges the JSON), 1 on a probe failure
(message on stderr and in the JSON's "error").
"""

import argparse
import configparser
import importlib
import json
import os
import sys
import traceback

QGIS_PYTHON = "/usr/share/qgis/python"
REPO_NAME = "Repository under test"
OFFICIAL_URL = "https://plugins.qgis.org/plugins/plugins.xml"


def isolate(profile):
    """Points every per-user location at the throw-away profile, before Qt starts."""
    for sub in ("home", "config", "cache", "data", "tmp", "runtime"):
        os.makedirs(os.path.join(profile, sub), exist_ok=True)
    os.environ["HOME"] = os.path.join(profile, "home")
    os.environ["XDG_CONFIG_HOME"] = os.path.join(profile, "config")
    os.environ["XDG_CACHE_HOME"] = os.path.join(profile, "cache")
    os.environ["XDG_DATA_HOME"] = os.path.join(profile, "data")
    os.environ["XDG_RUNTIME_DIR"] = os.path.join(profile, "runtime")
    os.chmod(os.environ["XDG_RUNTIME_DIR"], 0o700)
    # QGIS 3.22 writes the downloaded zip to QDir.tempPath()/<file_name>.
    os.environ["TMPDIR"] = os.path.join(profile, "tmp")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.pop("http_proxy", None)
    os.environ.pop("HTTP_PROXY", None)


def wait_until(app, done, what, timeout_s=60):
    """Runs the Qt event loop until done() or the timeout."""
    from qgis.PyQt.QtCore import QElapsedTimer, QEventLoop

    timer = QElapsedTimer()
    timer.start()
    while not done():
        if timer.elapsed() > timeout_s * 1000:
            raise RuntimeError("timed out after {} s waiting for {}".format(timeout_s, what))
        app.processEvents(QEventLoop.AllEvents, 50)


def read_metadata_version(folder):
    cp = configparser.ConfigParser()
    with open(os.path.join(folder, "metadata.txt"), encoding="utf-8") as f:
        cp.read_file(f)
    return cp.get("general", "version")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo-url", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--pretend-version", help="QGIS version X.Y.Z to pretend to be")
    ap.add_argument("--install", help="plugin id to install")
    ap.add_argument("--experimental", action="store_true", help="install the experimental version")
    args = ap.parse_args()

    profile = os.path.abspath(args.profile)
    isolate(profile)
    sys.path.insert(0, QGIS_PYTHON)

    from qgis.core import Qgis, QgsApplication, QgsSettings

    out = {"real_qgis_version": Qgis.QGIS_VERSION}
    if args.pretend_version:
        Qgis.QGIS_VERSION = "{}-Pretend".format(args.pretend_version)

    # As QGIS desktop's main() does, so settings land in <profile>/QGIS/QGIS3.ini.
    from qgis.PyQt.QtCore import QCoreApplication
    QCoreApplication.setOrganizationName("QGIS")
    QCoreApplication.setOrganizationDomain("qgis.org")
    QCoreApplication.setApplicationName("QGIS3")
    app = QgsApplication([], True)
    app.setPrefixPath("/usr", True)
    app.initQgis()
    try:
        import qgis.utils
        from pyplugin_installer import installer_data
        from pyplugin_installer.installer_data import plugins, repositories, reposGroup, settingsGroup
        from pyplugin_installer.qgsplugininstallerinstallingdialog import QgsPluginInstallerInstallingDialog
        from pyplugin_installer.version_compare import pyQgisVersion

        # The user plugins folder of this profile, as QGIS's Python utils would know it.
        plugins_dir = os.path.join(QgsApplication.qgisSettingsDirPath(), "python", "plugins")
        os.makedirs(plugins_dir, exist_ok=True)
        qgis.utils.home_plugin_path = plugins_dir
        qgis.utils.plugin_paths[:] = [plugins_dir]
        installer_data.plugin_paths[:] = [plugins_dir]
        if plugins_dir not in sys.path:
            sys.path.insert(0, plugins_dir)

        settings = QgsSettings()
        settings.setValue(reposGroup + "/" + REPO_NAME + "/url", args.repo_url)
        settings.setValue(reposGroup + "/" + REPO_NAME + "/enabled", True)
        # Repositories.load() re-adds the official repository when no entry has its URL:
        # register it ourselves, disabled.
        settings.setValue(reposGroup + "/QGIS Official Plugin Repository/url", OFFICIAL_URL)
        settings.setValue(reposGroup + "/QGIS Official Plugin Repository/enabled", False)
        settings.setValue(settingsGroup + "/allowExperimental", True)
        settings.setValue(settingsGroup + "/allowDeprecated", True)
        settings.sync()

        out["qgis_version"] = pyQgisVersion()
        out["url_params"] = repositories.urlParams()
        out["settings_file"] = settings.fileName()

        repositories.load()
        enabled = sorted(repositories.allEnabled().keys())
        out["enabled_repositories"] = enabled
        if enabled != [REPO_NAME]:
            raise RuntimeError("expected only our repository enabled, got {}".format(enabled))

        plugins.clearRepoCache()
        repositories.requestFetching(REPO_NAME, force_reload=True)
        wait_until(app, lambda: not repositories.fetchingInProgress(), "plugins.xml")
        repo = repositories.all()[REPO_NAME]
        out["repository"] = {"state": repo["state"], "error": repo["error"]}
        if repo["state"] != 2:
            raise RuntimeError("repository not loaded (state {}): {}".format(repo["state"], repo["error"]))

        plugins.getAllInstalled()
        plugins.rebuild()
        offered = {}
        for pid, p in sorted(plugins.all().items()):
            if not p["available"]:
                continue
            offered[pid] = {
                "name": p["name"],
                "stable": p["version_available_stable"],
                "experimental": p["version_available_experimental"],
                "download_url_stable": p["download_url_stable"],
                "download_url_experimental": p["download_url_experimental"],
                "filename": p["filename"],
                "deprecated": p["deprecated"],
                "trusted": p["trusted"],
                "icon": p["icon"],
                "status": p["status"],
            }
        out["plugins"] = offered

        if args.install:
            key = args.install
            if key not in plugins.all():
                raise RuntimeError("plugin {} is not offered".format(key))
            offered_version = offered[key]["experimental" if args.experimental else "stable"]
            dlg = QgsPluginInstallerInstallingDialog(None, plugins.all()[key], stable=not args.experimental)
            dlg.exec_()
            folder = os.path.join(plugins_dir, key)
            result = {"id": key, "offered_version": offered_version, "dialog_result": dlg.result(), "folder": folder}
            result["folder_exists"] = os.path.isdir(folder)
            if result["folder_exists"]:
                result["metadata_version"] = read_metadata_version(folder)
                # installPlugin's own checks: re-scan installed plugins, then import.
                plugins.getAllInstalled()
                plugins.rebuild()
                installed = plugins.all()[key]
                result["error"] = installed["error"]
                result["error_details"] = installed["error_details"]
                result["version_installed"] = installed["version_installed"]
                result["status"] = installed["status_exp" if args.experimental else "status"]
                try:
                    module = importlib.import_module(key)
                    result["class_factory"] = callable(getattr(module, "classFactory", None))
                except Exception as e:  # the plugin's own import error
                    result["class_factory"] = False
                    result["import_error"] = "{}: {}".format(type(e).__name__, e)
            out["install"] = result
    except Exception as e:
        out["error"] = "{}: {}".format(type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
        print(json.dumps(out, indent=1, sort_keys=True))
        print(out["traceback"], file=sys.stderr)
        return 1
    finally:
        app.exitQgis()
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
