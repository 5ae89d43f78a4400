#!/usr/bin/env bash
# The scan benchmark (issue 15): the median time of the full scan (Bandit, detect-secrets
# and our checks, each sandboxed, run in parallel) of a ~107 KB and a ~5 MB plugin, each
# tool's share, beside the machine's own floor measured in the same run: the venv's python
# starting and importing Bandit / detect-secrets (no Bandit-based scan can be faster) and
# unzipping the same zip. It never asserts on timings.
#
#   scripts/bench-scan.sh [--quick] [--runs N=7]
#
# --quick: 2 runs each (3 uploads). Then scripts/bench-upload-scan.py: the upload request's
# own time, idle and while the worker scans, beside the time until its scan finished.
# Needs the pinned tools (scripts/scan-tools.sh, run here).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs=7
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) runs=2 ;;
        --runs) runs="$2"; shift ;;
        *) echo "usage: $0 [--quick] [--runs N]" >&2; exit 2 ;;
    esac
    shift
done
scripts/scan-tools.sh
echo "bench-scan: $(nproc) CPU(s), $runs run(s) each" >&2
cargo run --release -q -p uploader --example bench_scan -- --runs "$runs" --venv target/scan-venv
# The upload request's own time beside the scan it queues (the scan runs after the answer).
cargo build --release -q -p uploader -p generator
echo
echo "| measure | median | runs |"
echo "|---|---|---|"
python3 scripts/bench-upload-scan.py "$root" "$((runs < 3 ? 3 : runs))"
