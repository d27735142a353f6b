#!/usr/bin/env bash
# Classification under load while a job trains, in one release server on real Fashion-MNIST (Debian's
# dataset-fashion-mnist): fashion-convnet trains alone for WARMUP seconds (its idle images/s), then wrk posts a
# 28×28 PNG to a served model at 16 connections for SECONDS while it goes on (its images/s under load).
# Prints one JSON line: requests/s, p50/p99, non-2xx and socket errors, training images/s idle and under load,
# and the server's peak RSS. Usage: bench/load/run.sh [seconds] [warmup]   (`make bench` runs it)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
warmup=${2:-20}
scratch=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$scratch"' EXIT
source bench/lib.sh
start_server

import=$(curl -sf -X POST "$api/v1/datasets" \
  -d '{"name":"fashion","format":"idx","path":"/usr/share/datasets/fashion-mnist"}' | job_id)
wait_job "$import"
# The served model: a small one, trained for an epoch (what is served does not change the training's cost).
small=$(curl -sf -X POST "$api/v1/jobs" -d '{"dataset":"fashion","layers":[{"type":"flatten"},
  {"type":"dense","units":64,"activation":"relu"},{"type":"dense","units":10}],"epochs":1,"batch_size":256}' | job_id)
wait_job "$small"
curl -sf -X POST "$api/v1/models" -d "{\"name\":\"fashion\",\"job_id\":$small}" >/dev/null
python3 - "$scratch/shirt.png" <<'PY'
import struct, sys, zlib
rows = b"".join(b"\0" + bytes((x * 9 + y * 5) % 256 for x in range(28)) for y in range(28))
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY

train=$(curl -sf -X POST "$api/v1/jobs" -d '{"dataset":"fashion","preset":"fashion-convnet","epochs":20,
  "batch_size":64,"optimizer":{"name":"adam","learning_rate":0.001}}' | job_id)
# Mean train/images_per_s over the points recorded after STEP; prints "mean last_step".
images_per_s() {
  curl -sf "$api/v1/jobs/$train/metrics?tag=train/images_per_s" | python3 -c '
import json, sys
points = [p for p in json.load(sys.stdin) if p["step"] > int(sys.argv[1])]
print(sum(p["value"] for p in points) / max(1, len(points)), max([p["step"] for p in points], default=int(sys.argv[1])))' "$1"
}
sleep "$warmup"
read -r idle idle_step < <(images_per_s 0)
read -r rps p50 p99 bad errors < <(wrk_post 2 16 "$seconds" "$scratch/shirt.png" image/png fashion)
sleep 3  # the trainer writes its points every 2 s
read -r loaded _ < <(images_per_s "$idle_step")
state=$(curl -sf "$api/v1/jobs/$train" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
rss=$(awk '/VmHWM/ {print $2/1024}' "/proc/$pid/status")
curl -sf -X POST "$api/v1/jobs/$train/cancel" >/dev/null
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
python3 -c '
import json, sys
rps, p50, p99, bad, errors, idle, loaded, rss, state = sys.argv[1:]
print(json.dumps({"bench": "classify_while_training", "wrk": "-t2 -c16", "rps": round(float(rps)),
    "p50_ms": float(p50), "p99_ms": float(p99), "non_2xx": int(bad), "socket_errors": errors,
    "training_images_per_s": {"idle": round(float(idle)), "under_load": round(float(loaded))},
    "training_job_state": state, "peak_rss_mb": round(float(rss), 1)}))' \
  "$rps" "$p50" "$p99" "$bad" "$errors" "$idle" "$loaded" "$rss" "$state"
