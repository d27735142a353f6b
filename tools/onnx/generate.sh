#!/usr/bin/env bash
# Regenerates Sources/KennelONNX/onnx.pb.swift from tools/onnx/onnx.proto (ONNX 1.23.2's, from the onnx wheel on
# PyPI), with Debian's protoc and swift-protobuf's plugin built from the package's own dependency. The output is
# committed: run this only when the proto or swift-protobuf changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v protoc >/dev/null || { echo "needs protoc (Debian: protobuf-compiler)" >&2; exit 1; }
swift build --product protoc-gen-swift
protoc --plugin=protoc-gen-swift="$(swift build --show-bin-path)/protoc-gen-swift" \
  --swift_out=Sources/KennelONNX --proto_path=tools/onnx tools/onnx/onnx.proto
