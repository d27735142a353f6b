#!/usr/bin/env bash
# The dashboard's browser test: Tests/browser/run.sh KENNEL_BINARY [OUTPUT_DIR (default .build/browser-test)].
# Needs Debian's chromium, chromium-driver and python3-selenium; runs Debian's /usr/bin/python3 on purpose, since
# the python3 first on PATH may be another one without selenium.
set -euo pipefail
kennel=$(realpath "${1:?usage: Tests/browser/run.sh KENNEL_BINARY [OUTPUT_DIR]}")
out=${2:+$(realpath -m "$2")}
cd "$(dirname "$0")/../.."
# -B: no __pycache__ left in the source tree.
exec /usr/bin/python3 -B Tests/browser/dashboard_test.py "$kennel" --out "${out:-.build/browser-test}"
