#!/usr/bin/env python3
"""The upload request's own time beside the scan it queues (issue 15 "Performance").

Starts `uploader serve` on a fresh demo catalog (no nginx: this measures the service),
uploads R new versions of a ~107 KB plugin with a user token, and prints the median time of
the upload request (the answer comes right after COMMIT) beside the median time from the
upload's answer until its scan finished (validation_status left `validating`), and the same
upload request while the worker is busy scanning the previous version. The scan runs after
the answer, so the first and the last figure are alike and far below the second. Never
asserts on timings.

    scripts/bench-upload-scan.py ROOT RUNS
"""
import io, json, os, random, socket, statistics, subprocess, sys, tempfile, time, urllib.request, zipfile

root, runs = sys.argv[1], int(sys.argv[2])
upl = os.path.join(root, "target/release/uploader")
gen = os.path.join(root, "target/release/generator")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin(version):
    rng = random.Random(15)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        meta = ("[general]\nname=Bench Scan Upload\nqgisMinimumVersion=3.22\nqgisMaximumVersion=4.99\n"
                f"description=Upload benchmark\nversion={version}\nauthor=Bench\nemail=b@example.org\n"
                "about=A plugin of about 107 KB for the upload benchmark.\n"
                "tracker=https://example.org/t\nrepository=https://example.org/r\n")
        z.writestr("bench_scan_upload/metadata.txt", meta)
        z.writestr("bench_scan_upload/__init__.py", "def classFactory(iface):\n    return None\n")
        z.writestr("bench_scan_upload/LICENSE", "GPL-2.0-or-later\n")
        for m in range(12):
            lines = "".join(f"def f_{m}_{i}(x):\n    return x * {rng.randint(1, 999)} + {i}\n\n" for i in range(180))
            z.writestr(f"bench_scan_upload/mod_{m}.py", lines)
        z.writestr("bench_scan_upload/data.bin", rng.randbytes(60_000))
    return buf.getvalue()


def request(port, method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def upload(port, token, zip_bytes):
    boundary = "bench-boundary-15"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"p.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode() + zip_bytes + f"\r\n--{boundary}--\r\n".encode()
    t = time.perf_counter()
    request(port, "POST", "/plugins/add/", body,
            {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    return (time.perf_counter() - t) * 1000


def status(port, token, version):
    v = request(port, "GET", f"/api/v1/plugins/bench_scan_upload/versions/{version}", None,
                {"Authorization": f"Bearer {token}"})
    return v["validation_status"]


def wait_scanned(port, token, version):
    t = time.perf_counter()
    pause = 0.005
    while status(port, token, version) == "validating":
        time.sleep(pause)  # polling the API is what a client does; the figure is coarse by `pause`
        pause = min(pause * 2, 0.05)
    return (time.perf_counter() - t) * 1000


with tempfile.TemporaryDirectory(dir=os.path.join(root, "target")) as work:
    data, site = os.path.join(work, "data"), os.path.join(work, "site")
    subprocess.run([gen, "demo", "--data", data], check=True, capture_output=True)
    env = dict(os.environ, PLUGINS_JWT_SECRET="bench-upload-scan-secret-0123456789abcdef", PLUGINS_LOG="warn")
    subprocess.run([upl, "user", "add", "bencher", "--email", "b@example.org", "--password-stdin", "--data", data],
                   input=b"bench password 15\n", check=True, env=env, capture_output=True)
    port = free_port()
    log = open(os.path.join(work, "serve.log"), "w")
    serve = subprocess.Popen([upl, "serve", "--data", data, "--site", site, "--templates", os.path.join(root, "templates"),
                              "--listen", f"127.0.0.1:{port}", "--scan-venv", os.path.join(root, "target/scan-venv"),
                              "--no-count", "--changes-burst", "1000", "--changes-per-minute", "1000"],
                             env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if request(port, "GET", "/healthz") is not None:
                    break
            except Exception:
                if time.time() > deadline or serve.poll() is not None:
                    sys.exit(f"bench-upload-scan: the service did not start (see {log.name})")
                time.sleep(0.05)
        token = request(port, "POST", "/api/v1/token", json.dumps({"username": "bencher", "password": "bench password 15"}).encode(),
                        {"Content-Type": "application/json"})["token"]
        idle, scans, busy = [], [], []
        for i in range(runs):
            v = f"1.{2 * i}"
            idle.append(upload(port, token, plugin(v)))
            # The next upload lands while this version is being scanned.
            busy.append(upload(port, token, plugin(f"1.{2 * i + 1}")))
            scans.append(wait_scanned(port, token, v))
            wait_scanned(port, token, f"1.{2 * i + 1}")
        size = len(plugin("1.0"))
        m = statistics.median
        print(f"| upload request of a {size / 1000:.0f} KB plugin, worker idle | {m(idle):.1f} ms | median of {runs} |")
        print(f"| upload request while the worker scans another version | {m(busy):.1f} ms | median of {runs} |")
        print(f"| upload answer → scan finished (validation_status set) | {m(scans):.0f} ms | median of {runs} |")
    finally:
        serve.terminate()
        serve.wait()
