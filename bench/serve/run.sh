#!/usr/bin/env bash
# Serving benchmark: wrk at 16 connections for SECONDS posting a 28×28 PNG to a promoted fashion-convnet and a
# 500×375 JPEG to a promoted dogs-seed model (requests/s, p50/p99, non-2xx; also with both promoted in int8),
# then the same at one connection, whose
# median round trip is compared with compiled Keras's bare model call (../shared/bench/infer_anchor.py) when
# KERAS_PYTHON (or /opt/keras-anchor-venv) has tensorflow-cpu, and with ONNX Runtime's bare call
# (../shared/bench/ort_anchor.py, the inference bar) when it also has tf2onnx and onnxruntime. The models are
# trained for one epoch on synthetic images of the presets' shapes: inference cost depends on the architecture,
# not on the weights. Last, Open Inference Protocol requests of 64 fashion PNGs (JSON and binary tensor data, at 2
# and 4 connections) against the engine's bare batch-64 throughput (`kennel bench engine`, run between them).
# Usage: bench/serve/run.sh [seconds]   (needs wrk and cjpeg; `make bench` installs them)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
scratch=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$scratch"' EXIT
keras_python=${KERAS_PYTHON:-/opt/keras-anchor-venv/bin/python}

source bench/lib.sh
start_server

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
  # The same checkpoint in int8 (refused when it loses more than 0.5 points on the synthetic test split).
  curl -s -X POST "$api/v1/models" -d "{\"name\":\"$1-int8\",\"job_id\":$train,\"precision\":\"int8\"}" \
    >"$scratch/$1-int8.json"
}
# wrk at CONNECTIONS (16 on 2 threads, or 1) on NAME-int8, or "0 0 0 0 refused" when its promotion was refused.
wrk_int8() {
  if grep -q '"precision":"int8"' "$scratch/$1-int8.json"; then wrk_post "$(( $4 > 1 ? 2 : 1 ))" "$4" "$seconds" "$2" "$3" "$1-int8"
  else echo "0 0 0 0 refused"; fi
}
prepare fashion fashion-convnet 10 20 28 28 28 28 32
prepare dogs dogs-seed 120 3 151 250 500 375 8
cjpeg -quality 90 "$scratch/dogs/request.pgm" >"$scratch/dogs.jpg"
cp "$scratch/fashion/request.png" "$scratch/fashion.png"
jpeg_bytes=$(stat -c %s "$scratch/dogs.jpg")

read -r f_rps f_p50 f_p99 f_bad f_err < <(wrk_post 2 16 "$seconds" "$scratch/fashion.png" image/png fashion)
read -r d_rps d_p50 d_p99 d_bad d_err < <(wrk_post 2 16 "$seconds" "$scratch/dogs.jpg" image/jpeg dogs)
read -r f1_rps f1_p50 f1_p99 _ _ < <(wrk_post 1 1 "$seconds" "$scratch/fashion.png" image/png fashion)
read -r d1_rps d1_p50 d1_p99 _ _ < <(wrk_post 1 1 "$seconds" "$scratch/dogs.jpg" image/jpeg dogs)
read -r fi_rps fi_p50 fi_p99 fi_bad fi_err < <(wrk_int8 fashion "$scratch/fashion.png" image/png 16)
read -r di_rps di_p50 di_p99 di_bad di_err < <(wrk_int8 dogs "$scratch/dogs.jpg" image/jpeg 16)
read -r _ fi1_p50 fi1_p99 _ _ < <(wrk_int8 fashion "$scratch/fashion.png" image/png 1)
read -r _ di1_p50 di1_p99 _ _ < <(wrk_int8 dogs "$scratch/dogs.jpg" image/jpeg 1)
curl -sf "$api/metrics" | grep -E '^kennel_classify_batch_size_(sum|count)' >"$scratch/batches.txt"
# 64 fashion PNGs in one Open Inference Protocol request, as JSON (base64 strings) and as binary tensor data
# (tritonclient's default), at 2 connections (one request decodes while another's forward pass runs) and at 4 (the
# model's next request is always queued: at 2, on two cores shared by wrk, the server's threads and the model's
# team, it is often still on its way when a pass ends): one forward pass each, compared below with the engine's
# bare batch-64 throughput.
python3 - "$scratch/fashion" "$scratch/v2-64" <<'PY'
import base64, glob, json, struct, sys
pngs = [open(f, "rb").read() for f in sorted(glob.glob(sys.argv[1] + "/*/*.png"))[:64]]
json.dump({"inputs": [{"name": "images", "datatype": "BYTES", "shape": [64],
                       "data": [base64.b64encode(png).decode() for png in pngs]}]}, open(sys.argv[2] + ".json", "w"))
data = b"".join(struct.pack("<I", len(png)) + png for png in pngs)
header = json.dumps({"inputs": [{"name": "images", "datatype": "BYTES", "shape": [64],
                                 "parameters": {"binary_data_size": len(data)}}],
                     "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
open(sys.argv[2] + ".bin", "wb").write(header + data)
open(sys.argv[2] + ".header", "w").write(str(len(header)))
PY
passes() { curl -sf "$api/metrics" | awk '/^kennel_classify_batch_size_count/ {c=$2} /^kennel_classify_batch_size_sum/ {s=$2} END {print c, s}'; }
# The engine's bare batch-64 images/s (`kennel bench engine`) is measured before, between and after the v2 runs,
# the server idle meanwhile, and each v2 run is compared with the mean of the engine runs either side of it: this
# machine's speed drifts by ±20% over minutes, so figures taken apart in time do not compare. Each configuration
# runs three times; the report gives every run and the median ratio.
engine_b64() {
  .build/release/kennel bench engine --preset fashion-convnet --seconds 1 --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["infer_b64_images_per_s"])'
}
before=$(passes)
engine=$(engine_b64)
: >"$scratch/v2.txt"
for connections in 2 4; do
  for encoding in json binary json binary json binary; do
    if [[ $encoding == json ]]; then
      result=$(wrk_post 1 "$connections" "$seconds" "$scratch/v2-64.json" application/json /v2/models/fashion/infer)
    else
      result=$(wrk_post 1 "$connections" "$seconds" "$scratch/v2-64.bin" application/octet-stream \
        /v2/models/fashion/infer Inference-Header-Content-Length "$(cat "$scratch/v2-64.header")")
    fi
    next=$(engine_b64)
    echo "$encoding $connections $result $engine $next" >>"$scratch/v2.txt"
    engine=$next
  done
done
after=$(passes)
rss=$(awk '/VmHWM/ {print $2/1024}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true

anchor='{}'
if "$keras_python" -c 'import tensorflow' 2>/dev/null; then anchor=$("$keras_python" ../shared/bench/infer_anchor.py); fi
ort='{}'
if "$keras_python" -c 'import onnxruntime, tf2onnx' 2>/dev/null; then
  ort=$("$keras_python" ../shared/bench/ort_anchor.py 2>/dev/null | tail -1)
fi
python3 - "$anchor" "$scratch/batches.txt" "$rss" \
  "$f_rps $f_p50 $f_p99 $f_bad $f_err" "$d_rps $d_p50 $d_p99 $d_bad $d_err" "$f1_p50 $f1_p99 $d1_p50 $d1_p99" "$jpeg_bytes" \
  "$ort" "$fi_rps $fi_p50 $fi_p99 $fi_bad $fi_err" "$di_rps $di_p50 $di_p99 $di_bad $di_err" \
  "$fi1_p50 $fi1_p99 $di1_p50 $di1_p99" "$scratch/v2.txt" "$before $after" <<'PY'
import json, statistics, sys
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
       "int8": {"fashion_png_28x28": run(sys.argv[9]), "dogs_jpeg_500x375": run(sys.argv[10]),
                "one_connection_ms": dict(zip(["fashion_p50", "fashion_p99", "dogs_p50", "dogs_p99"],
                                              map(float, sys.argv[11].split())))},
       "one_connection_ms": {"fashion_p50": f1_p50, "fashion_p99": f1_p99, "dogs_p50": d1_p50, "dogs_p99": d1_p99},
       "mean_batch_size": round(float(batches["kennel_classify_batch_size_sum"])
                                / max(1.0, float(batches["kennel_classify_batch_size_count"])), 2),
       "peak_rss_mb": round(rss, 1)}
# v2 requests of 64 images: images/s end to end against the engine's bare batch-64 passes either side of each run,
# and the mean images per forward pass over those requests (64 when each request is one pass).
count_before, sum_before, count_after, sum_after = map(float, sys.argv[13].split())
def v2(line):
    encoding, connections, rps, p50, p99, bad, errors, engine_before, engine_after = line.split()
    run64 = run(" ".join([rps, p50, p99, bad, errors]))
    engine_b64 = (float(engine_before) + float(engine_after)) / 2
    return (encoding, int(connections)), dict(run64, images_per_s=round(run64["rps"] * 64),
                                              engine_b64_images_per_s=round(engine_b64),
                                              over_engine_b64=round(run64["rps"] * 64 / engine_b64, 3))
configurations = {}
for line in open(sys.argv[12]):
    key, result = v2(line)
    configurations.setdefault(key, []).append(result)
out["v2_infer_64_fashion_pngs"] = {
    "configurations": [{"tensor_data": encoding, "connections": connections,
                        "median_over_engine_b64": statistics.median(r["over_engine_b64"] for r in runs), "runs": runs}
                       for (encoding, connections), runs in configurations.items()],
    "mean_images_per_pass": round((sum_after - sum_before) / max(1.0, count_after - count_before), 2)}
if anchor:
    out["keras_tffunction_b1_ms"] = {"fashion": anchor["fashion_tffunction_b1_ms"], "dogs": anchor["dogs_tffunction_b1_ms"]}
    out["round_trip_over_keras_call"] = {"fashion": round(f1_p50 / anchor["fashion_tffunction_b1_ms"], 3),
                                         "dogs": round(d1_p50 / anchor["dogs_tffunction_b1_ms"], 3)}
ort = json.loads(sys.argv[8])
if ort:
    out["onnxruntime_b1_ms"] = {"fashion": ort["fashion_ort_b1_ms"], "dogs": ort["dogs_ort_b1_ms"]}
    out["round_trip_over_onnxruntime_call"] = {"fashion": round(f1_p50 / ort["fashion_ort_b1_ms"], 3),
                                               "dogs": round(d1_p50 / ort["dogs_ort_b1_ms"], 3)}
    int8 = out["int8"]["one_connection_ms"]
    if int8["fashion_p50"] > 0:
        out["int8_round_trip_over_onnxruntime_fp32_call"] = {
            "fashion": round(int8["fashion_p50"] / ort["fashion_ort_b1_ms"], 3),
            "dogs": round(int8["dogs_p50"] / ort["dogs_ort_b1_ms"], 3)}
print(json.dumps(out))
PY
