#!/usr/bin/env bash
# Serving benchmark: wrk at 16 connections for SECONDS posting a 28×28 PNG to a promoted fashion-convnet and a
# 500×375 JPEG to a promoted dogs-seed model (requests/s, p50/p99, non-2xx), then the same at one connection, whose
# median round trip is compared with compiled Keras's bare model call (../shared/bench/infer_anchor.py) when
# KERAS_PYTHON (or /opt/keras-anchor-venv) has tensorflow-cpu. The models are trained for one epoch on synthetic
# images of the presets' shapes: inference cost depends on the architecture, not on the weights.
# Usage: bench/serve/run.sh [seconds]   (needs wrk and cjpeg; `make bench` installs them)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
scratch=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$scratch"' EXIT
keras_python=${KERAS_PYTHON:-/opt/keras-anchor-venv/bin/python}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
api="http://127.0.0.1:$port"
.build/release/kennel serve --no-demo --port "$port" --data-dir "$scratch/var" 2>"$scratch/kennel.log" & pid=$!
for _ in $(seq 100); do curl -sf "$api/healthz" >/dev/null && break; sleep 0.1; done

wait_job() {
  for _ in $(seq 1200); do
    state=$(curl -sf "$api/v1/jobs/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    case $state in succeeded) return 0 ;; failed|cancelled) echo "job $1 $state" >&2; return 1 ;; esac
    sleep 0.5
  done
  return 1
}
job_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# NAME PRESET CLASSES PER_CLASS WIDTH HEIGHT IMAGE_W IMAGE_H BATCH: import synthetic images, train one epoch, promote.
prepare() {
  python3 bench/serve/make_images.py "$scratch/$1" "$3" "$4" "$7" "$8"
  import=$(curl -sf -X POST "$api/v1/datasets" -d "{\"name\":\"$1\",\"format\":\"imagefolder\",\"path\":\"$scratch/$1\",
    \"width\":$5,\"height\":$6,\"channels\":1}" | job_id)
  wait_job "$import"
  train=$(curl -sf -X POST "$api/v1/jobs" -d "{\"dataset\":\"$1\",\"preset\":\"$2\",\"epochs\":1,\"batch_size\":$9,
    \"optimizer\":{\"name\":\"adam\",\"learning_rate\":0.001}}" | job_id)
  wait_job "$train"
  curl -sf -X POST "$api/v1/models" -d "{\"name\":\"$1\",\"job_id\":$train}" >/dev/null
}
prepare fashion fashion-convnet 10 20 28 28 28 28 32
prepare dogs dogs-seed 120 3 151 250 500 375 8
cjpeg -quality 90 "$scratch/dogs/request.pgm" >"$scratch/dogs.jpg"
cp "$scratch/fashion/request.png" "$scratch/fashion.png"
jpeg_bytes=$(stat -c %s "$scratch/dogs.jpg")

# wrk posting FILE with TYPE; prints "rps p50_ms p99_ms non2xx".
load() {
  cat >"$scratch/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$3", "rb"):read("*a")
wrk.headers["Content-Type"] = "$4"
LUA
  wrk -t"$1" -c"$2" -d"${seconds}s" --latency -s "$scratch/post.lua" "$api/v1/models/$5:classify" >"$scratch/wrk.txt"
  python3 - "$scratch/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(rps, ms("50%"), ms("99%"), int(bad.group(1)) if bad else 0, (errors.group(1) if errors else "none").replace(" ", "_"))
PY
}
read -r f_rps f_p50 f_p99 f_bad f_err < <(load 2 16 "$scratch/fashion.png" image/png fashion)
read -r d_rps d_p50 d_p99 d_bad d_err < <(load 2 16 "$scratch/dogs.jpg" image/jpeg dogs)
read -r f1_rps f1_p50 f1_p99 _ _ < <(load 1 1 "$scratch/fashion.png" image/png fashion)
read -r d1_rps d1_p50 d1_p99 _ _ < <(load 1 1 "$scratch/dogs.jpg" image/jpeg dogs)
curl -sf "$api/metrics" | grep -E '^kennel_classify_batch_size_(sum|count)' >"$scratch/batches.txt"
rss=$(awk '/VmHWM/ {print $2/1024}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true

anchor='{}'
if "$keras_python" -c 'import tensorflow' 2>/dev/null; then anchor=$("$keras_python" ../shared/bench/infer_anchor.py); fi
python3 - "$anchor" "$scratch/batches.txt" "$rss" \
  "$f_rps $f_p50 $f_p99 $f_bad $f_err" "$d_rps $d_p50 $d_p99 $d_bad $d_err" "$f1_p50 $f1_p99 $d1_p50 $d1_p99" "$jpeg_bytes" <<'PY'
import json, sys
anchor = json.loads(sys.argv[1])
batches = dict(line.split() for line in open(sys.argv[2]))
rss = float(sys.argv[3])
jpeg_bytes = int(sys.argv[7])
def run(fields):
    rps, p50, p99, bad, errors = fields.split()
    return {"rps": round(float(rps)), "p50_ms": float(p50), "p99_ms": float(p99), "non_2xx": int(bad),
            "socket_errors": errors}
f1_p50, f1_p99, d1_p50, d1_p99 = map(float, sys.argv[6].split())
out = {"bench": "serve_classify", "wrk": "-t2 -c16", "fashion_png_28x28": run(sys.argv[4]),
       "dogs_jpeg_500x375": dict(run(sys.argv[5]), jpeg_bytes=jpeg_bytes),
       "one_connection_ms": {"fashion_p50": f1_p50, "fashion_p99": f1_p99, "dogs_p50": d1_p50, "dogs_p99": d1_p99},
       "mean_batch_size": round(float(batches["kennel_classify_batch_size_sum"])
                                / max(1.0, float(batches["kennel_classify_batch_size_count"])), 2),
       "peak_rss_mb": round(rss, 1)}
if anchor:
    out["keras_tffunction_b1_ms"] = {"fashion": anchor["fashion_tffunction_b1_ms"], "dogs": anchor["dogs_tffunction_b1_ms"]}
    out["round_trip_over_keras_call"] = {"fashion": round(f1_p50 / anchor["fashion_tffunction_b1_ms"], 3),
                                         "dogs": round(d1_p50 / anchor["dogs_tffunction_b1_ms"], 3)}
print(json.dumps(out))
PY
