#!/usr/bin/env bash
# Engine benchmark: `kennel bench engine` on fashion-convnet (batch 64) and dogs-seed (batch 32), and, when a
# Python with TensorFlow/Keras is available, ../shared/bench/keras_anchor.py on the same models in the same run,
# with the ratios; with tf2onnx and onnxruntime too, ../shared/bench/ort_anchor.py (the inference bar) and ours
# against it. Neither is ever a dependency: set KERAS_PYTHON to a throwaway venv's python to include them.
# Usage: bench/engine/run.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-5}
anchor=${KENNEL_ANCHOR:-../shared/bench/keras_anchor.py}
ort_anchor=${KENNEL_ORT_ANCHOR:-../shared/bench/ort_anchor.py}
python=${KERAS_PYTHON:-/opt/keras-anchor-venv/bin/python}

ort=""
if [ -x "$python" ] && [ -f "$ort_anchor" ] && "$python" -c "import onnxruntime, tf2onnx" 2>/dev/null; then
    ort=$(cd /tmp && "$python" "$OLDPWD/$ort_anchor" 2>/dev/null | tail -1)
    echo "$ort"
fi

run_pair() {
    local preset=$1 model=$2 batch=$3
    local ours keras=""
    ours=$(.build/release/kennel bench engine --preset "$preset" --batch-size "$batch" --seconds "$seconds" --json)
    echo "$ours"
    if [ -n "$ort" ]; then
        python3 - "$ours" "$ort" "$model" <<'PY'
import json, sys
ours, ort, model = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
# Ours in fp32, bf16 and int8 against ONNX Runtime's fp32: latency below 1 and throughput above 1 are better.
figures = {"fp32": ours} | ours.get("reduced", {})
print(json.dumps({"ratio_vs_onnxruntime": ours["preset"]} | {
    precision: {"infer_b1_latency": round(f["infer_b1_median_ms"] / ort[model + "_ort_b1_ms"], 3),
                "infer_b64": round(f["infer_b64_images_per_s"] / ort[model + "_ort_b64_ips"], 3)}
    for precision, f in figures.items()}))
PY
    fi
    if [ -x "$python" ] && [ -f "$anchor" ] && "$python" -c "import keras" 2>/dev/null; then
        keras=$(cd /tmp && "$python" "$OLDPWD/$anchor" --model "$model" --batch "$batch" 2>/dev/null | tail -1)
        echo "$keras"
        python3 - "$ours" "$keras" <<'PY'
import json, sys
ours, keras = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"ratio_vs_keras": ours["preset"],
                  "train": round(ours["train_images_per_s"] / keras["train_images_per_s"], 3),
                  "infer_b1_latency": round(ours["infer_b1_median_ms"] / keras["infer_b1_median_ms"], 3),
                  "infer_b64": round(ours["infer_b64_images_per_s"] / keras["infer_b64_images_per_s"], 3),
                  "peak_rss_mb": ours["peak_rss_mb"]}))
PY
    else
        echo "{\"note\": \"no Keras anchor (set KERAS_PYTHON to a python with tensorflow-cpu) for $preset\"}"
    fi
}

run_pair fashion-convnet fashion 64
run_pair dogs-seed dogs 32
