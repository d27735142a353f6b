# Kennel's two newcomer commands: `make run` and `make test`. System packages are installed here when missing.
SHELL := /bin/bash
DEBIAN_PACKAGES := libmicrohttpd-dev libturbojpeg0-dev libpng-dev libsqlite3-dev libopenblas-dev zlib1g-dev \
                   pkg-config dataset-fashion-mnist
BENCH_PACKAGES := wrk curl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_TEST_FLAGS ?=

.PHONY: run test bench build release deps bench-deps install-packages clean

## Install missing Debian packages (apt-get update first), build in release mode, start the server.
run: deps release
	.build/release/kennel serve

## Install missing Debian packages, build, run every test (Swift Testing; there are no XCTest cases).
test: deps
	swift build $(SWIFT_TEST_FLAGS)
	swift test --disable-xctest $(SWIFT_TEST_FLAGS)

## Benchmarks, one JSON line each: HTTP /healthz against a raw libmicrohttpd floor; the engine's presets against
## the Keras anchor when KERAS_PYTHON (or /opt/keras-anchor-venv) has tensorflow-cpu; the batch loader's wait while
## training; import against a Pillow loop when PILLOW_PYTHON has Pillow.
bench: deps bench-deps release
	bench/http/run.sh 10
	bench/engine/run.sh 5
	.build/release/kennel bench loader --preset dogs-seed --batch-size 32 --json
	bench/import/run.sh 3000

build: deps
	swift build

release: deps
	swift build -c release

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEBIAN_PACKAGES)"

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"

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
