# The two commands of the README. Both work on a fresh Debian machine with the Rust
# toolchain, as root: they install what they need (apt) and build what they run.
#
#   make serve   the whole system on http://127.0.0.1:$(PORT)/ until Ctrl-C
#                (PORT=8080, UPLOADER_PORT=8081; PLUGINS_DATA_DIR, PLUGINS_SITE_DIR, ...)
#   make cluster the several-machine deployment on loopback until Ctrl-C: three Garage
#                nodes, the writer and two nginx edges on :8091 and :8092
#                (scripts/cluster.sh; CLUSTER_DIR, EDGE1_PORT, EDGE2_PORT, WRITER_PORT, ...)
#   make test    every test of the workspace, end to end ones included (real nginx,
#                QGIS's own plugin installer); a missing component fails, never skips

SHELL := /bin/bash
PORT ?= 8080
UPLOADER_PORT ?= 8081
CARGO ?= cargo

.PHONY: serve cluster test deps-test build bench

serve:
	PORT=$(PORT) UPLOADER_PORT=$(UPLOADER_PORT) scripts/serve.sh

cluster:
	scripts/cluster.sh up

deps-test:
	scripts/ensure-deps.sh test

build:
	$(CARGO) build --release --workspace

# The end-to-end tests run the release binaries (uploader serve, generator): build them first.
test: deps-test build
	$(CARGO) test --workspace --release --no-fail-fast
	scripts/bench.sh 40 --quick
	scripts/bench-abuse.sh --quick
	scripts/bench-workplace.sh --quick
	scripts/bench-scan.sh --quick
	scripts/bench-cluster.sh 40 --quick

# The scale benchmark at N=2500 (prints medians beside the machine's limits), then the
# password-flood benchmark (staff latency under 300 connections of wrong credentials), then
# the workplace pages' latencies (demo catalog and N=2500) and the service's RSS, then the
# scan of a 107 KB and a 5 MB plugin and the upload request's time beside its scan, then the
# cluster: cold publication to Garage, an approval live on both edges, edge throughput.
bench:
	scripts/bench.sh 2500
	scripts/bench-abuse.sh
	scripts/bench-workplace.sh
	scripts/bench-scan.sh
	scripts/bench-cluster.sh 2500
