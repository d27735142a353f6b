#!/usr/bin/env bash
# Standard tools against a running Kennel: Tests/interop/run.sh KENNEL_BINARY [OUTPUT_DIR (default .build/interop)].
# tritonclient drives the Open Inference Protocol; onnx.checker and onnxruntime take every preset's ONNX export.
# They come from PyPI into a venv under .build/ (made once, with Debian's python3-venv); the versions are pinned in
# requirements.txt beside this script.
set -euo pipefail
kennel=$(realpath "${1:?usage: Tests/interop/run.sh KENNEL_BINARY [OUTPUT_DIR]}")
out=${2:+$(realpath -m "$2")}
cd "$(dirname "$0")/../.."
venv=.build/interop-venv
requirements=Tests/interop/requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
# -B: no __pycache__ left in the source tree.
"$venv/bin/python" -B Tests/interop/tritonclient_test.py "$kennel" "${out:-.build/interop}"
"$venv/bin/python" -B Tests/interop/onnx_test.py "$kennel" "${out:-.build/interop}"
