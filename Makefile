# Kennel's two newcomer commands: `make run` and `make test`. System packages are installed here when missing.
SHELL := /bin/bash
DEBIAN_PACKAGES := libmicrohttpd-dev libturbojpeg0-dev libpng-dev libsqlite3-dev libopenblas-dev libdnnl-dev zlib1g-dev libhdf5-dev \
                   pkg-config dataset-fashion-mnist
BENCH_PACKAGES := wrk curl libjpeg-turbo-progs nginx postgresql
# The dashboard's browser test: headless Chromium driven by Selenium, all from Debian (run with /usr/bin/python3).
BROWSER_TEST_PACKAGES := chromium chromium-driver python3-selenium
# The store's tests run on PostgreSQL too, against a throwaway server (tools/postgres/throwaway.sh).
POSTGRES_TEST_PACKAGES := postgresql
# Standard tools (tritonclient, onnx, onnxruntime) from PyPI, in a venv under .build/ made with Debian's python3.
INTEROP_TEST_PACKAGES := python3-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_TEST_FLAGS ?=

FUZZ_SECONDS ?= 600
FUZZ_TARGETS := FuzzImage FuzzDataFiles FuzzHTTP FuzzAPI

.PHONY: run test bench fuzz build release deps bench-deps browser-test-deps postgres-test-deps interop-test-deps install-packages clean

## Install missing Debian packages (apt-get update first), build in release mode, start the server.
run: deps release
	.build/release/kennel serve

## Install missing Debian packages, build, run every test (Swift Testing; there are no XCTest cases) beside a
## throwaway PostgreSQL server, then the dashboard in headless Chromium against the built server (screenshots in
## .build/browser-test/), then tritonclient, onnx.checker and onnxruntime against it (Tests/interop/).
test: deps browser-test-deps postgres-test-deps interop-test-deps
	swift build $(SWIFT_TEST_FLAGS)
	tools/postgres/throwaway.sh swift test --disable-xctest $(SWIFT_TEST_FLAGS)
	Tests/browser/run.sh "$$(swift build $(SWIFT_TEST_FLAGS) --show-bin-path)/kennel"
	Tests/interop/run.sh "$$(swift build $(SWIFT_TEST_FLAGS) --show-bin-path)/kennel"

## Benchmarks, one JSON line each: HTTP /healthz against a raw libmicrohttpd floor; classification under wrk
## (fashion PNG, dogs JPEG) against compiled Keras's model call; classification at 16 connections while
## fashion-convnet trains (errors, training images/s idle and under load, peak RSS); the engine's presets against the Keras anchor when
## KERAS_PYTHON (or /opt/keras-anchor-venv) has tensorflow-cpu; the batch loader's wait while training; import
## against a Pillow loop when PILLOW_PYTHON has Pillow; on a throwaway PostgreSQL, queue claims by 1 and 4 workers
## and classification through nginx in front of one and two API replicas.
bench: deps bench-deps release
	bench/http/run.sh 10
	bench/serve/run.sh 20
	bench/load/run.sh 60
	bench/engine/run.sh 5
	.build/release/kennel bench loader --preset dogs-seed --batch-size 32 --json
	bench/import/run.sh 3000
	bench/cluster/run.sh 20

## libFuzzer (-sanitize=fuzzer,address) over image decoding, IDX/shard/checkpoint files, raw HTTP and the REST
## router's JSON bodies: builds Fuzz/, makes the seed corpus, runs each target for FUZZ_SECONDS (default 600,
## FUZZ_JOBS at a time); crashing inputs land in Fuzz/.build/artifacts/ and the run fails.
fuzz: deps bench-deps build
	swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
	    -Xswiftc -enable-testing
	tools/fuzz/make_corpus.sh Fuzz/.build/corpus
	tools/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

build: deps
	swift build

release: deps
	swift build -c release

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEBIAN_PACKAGES)"

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"

browser-test-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BROWSER_TEST_PACKAGES)"

postgres-test-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(POSTGRES_TEST_PACKAGES)"

interop-test-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(INTEROP_TEST_PACKAGES)"

# Installs whichever of $(PACKAGES) dpkg does not list as installed.
install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf .build
