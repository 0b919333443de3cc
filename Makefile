# hashguard — `make run` and `make test` work on a fresh Debian 12 machine with only Rust.
SHELL := /bin/bash
# Builds live outside the clone so that repeated CI runs on one machine stay warm.
CARGO_TARGET_DIR ?= $(HOME)/.cache/hashguard/target
export CARGO_TARGET_DIR
export PATH := $(HOME)/.cargo/bin:$(PATH)
BIN := $(CARGO_TARGET_DIR)/release/hashguard
REF_VENV ?= $(HOME)/.cache/hashguard/ref-venv

.PHONY: setup run test lint deny fuzz bench bench-video testdata testvideos refvectors clean

## setup: install the system packages and Rust components the project needs (idempotent)
setup:
	@bash scripts/setup.sh

## run: set up, build, run the demos over the synthetic media, then serve gRPC on 127.0.0.1:50051
run: setup
	cargo build --release --locked --all-targets
	$(BIN) --help
	@echo
	@echo "== demo: hashguard hash testdata/images/base (first 3 records)"
	@$(BIN) hash testdata/images/base | head -n 3
	@echo
	@echo "== demo: a synthetic video's vPDQ frame hashes (one per second)"
	@$(BIN) hash --format vpdq testdata/video/testsrc2.avi
	@echo
	@echo "== demo: the PDQ hashes of the synthetic scenes as a list in ./data, then a resized copy matched against it"
	@$(BIN) hash --algo pdq --format tsv testdata/images/base | cut -f2 > $(CARGO_TARGET_DIR)/demo-list.txt
	@$(BIN) --data ./data lists import --list demo --kind pdq $(CARGO_TARGET_DIR)/demo-list.txt
	@$(BIN) hash --algo pdq --format tsv testdata/images/variants/p00_480x360_resize50.png \
	  | cut -f2 | sed 's/^/pdq:/' | xargs $(BIN) --data ./data match
	@DEMO_LIST=$(CARGO_TARGET_DIR)/demo-list.txt bash scripts/demo-serve.sh $(BIN) ./data

## test: set up, then formatting, lints and every test
# Every cargo call selects the same targets (--all-targets): RocksDB's build-time dependencies
# (cc, bindgen) take their features from whatever else is being built, so a call with another
# target set would compile RocksDB's C++ again (15-40 minutes). The last line sums the
# "test result" lines of every test binary.
test: setup lint
	set -o pipefail; cargo test --locked --all-targets 2>&1 | awk '{ print } \
	  /^test result:/ { passed += $$4; failed += $$6 } \
	  END { printf "tests: %d passed, %d failed\n", passed, failed }'

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

## deny: licences, bans and sources of every dependency (cargo-deny, installed on first use;
## advisories need the RustSec database from GitHub: see docs/security.md)
CARGO_DENY_VERSION := 0.20.2
deny:
	@cargo deny --version 2>/dev/null | grep -q "$(CARGO_DENY_VERSION)" || \
	  cargo install --locked cargo-deny --version $(CARGO_DENY_VERSION)
	cargo deny check licenses bans sources

## fuzz: build the fuzz targets (libFuzzer on the stable toolchain) and run each for
## FUZZ_SECONDS (default 60); see docs/security.md
FUZZ_SECONDS ?= 60
fuzz: setup
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

## bench: criterion benchmarks (see README "Performance")
bench: setup
	cargo bench --locked --bench hashing --bench index

## bench-video: video hashing vs vpdq and ffmpeg on a 1080p clip (needs the peer harness set up; see docs/performance.md)
bench-video: setup
	bash scripts/bench-video.sh

## testdata: regenerate the synthetic test images (deterministic; committed)
testdata:
	cargo run --release --locked --example gen_testdata -- testdata/images

## testvideos: regenerate the synthetic test videos with the ffmpeg CLI (committed; by hand only)
testvideos:
	python3 testdata/make_videos.py

## refvectors: recompute PDQ and vPDQ reference vectors with Meta's code (PyPI pdqhash, vpdq); by hand only
refvectors:
	@test -x $(REF_VENV)/bin/python || python3 -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install --quiet -r testdata/ref-requirements.txt
	$(REF_VENV)/bin/python testdata/refvectors.py
	$(REF_VENV)/bin/python testdata/video_refvectors.py
	$(REF_VENV)/bin/python testdata/heif_refvectors.py

clean:
	cargo clean
