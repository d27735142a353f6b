#!/usr/bin/env bash
# Import benchmark: `kennel import` of a few thousand ~400x300 JPEGs to 151x250 gray, against a Pillow loop doing
# decode + grayscale + resize on the same files (needs a python with Pillow: PILLOW_PYTHON, default the Keras
# anchor venv). Skipped, with a note, when no such python is present.
# Usage: bench/import/run.sh [count]
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-3000}
python=${PILLOW_PYTHON:-/opt/keras-anchor-venv/bin/python}
if ! [ -x "$python" ] || ! "$python" -c "import PIL" 2>/dev/null; then
    echo '{"note": "no Pillow anchor (set PILLOW_PYTHON to a python with Pillow)"}'
    exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$python" bench/import/pillow_anchor.py generate "$scratch/images" "$count"
ours=$( { /usr/bin/time -f "%e %M" .build/release/kennel import --name bench --format imagefolder --width 151 \
    --height 250 --resize stretch --data-dir "$scratch/var" "$scratch/images" 2>"$scratch/import.err"; } 2>&1 || true)
line=$(grep "^imported" <<<"$ours" || cat "$scratch/import.err")
pillow=$("$python" bench/import/pillow_anchor.py run "$scratch/images")
python3 - "$line" "$pillow" <<'PY'
import json, re, sys
line, pillow = sys.argv[1], json.loads(sys.argv[2])
rate = float(re.search(r"([0-9.]+) images/s", line).group(1))
print(json.dumps({"bench": "import_151x250_gray", "kennel_images_per_s": rate, **pillow,
                  "kennel_over_pillow": round(rate / pillow["pillow_images_per_s"], 2)}))
PY
