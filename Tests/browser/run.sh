#!/usr/bin/env bash
# The dashboard's browser test: Tests/browser/run.sh KENNEL_BINARY [OUTPUT_DIR (default .build/browser-test)].
# Needs Debian's chromium, chromium-driver and python3-selenium; runs Debian's /usr/bin/python3 on purpose, since
# the python3 first on PATH may be another one without selenium.
set -euo pipefail
kennel=${1:?usage: Tests/browser/run.sh KENNEL_BINARY [OUTPUT_DIR]}
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 Tests/browser/dashboard_test.py "$kennel" --out "${2:-.build/browser-test}"
