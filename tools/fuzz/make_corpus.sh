#!/usr/bin/env bash
# Writes the seed corpus of each fuzz target (Fuzz/Sources/*) into OUT (default Fuzz/.build/corpus):
#   FuzzImage      the committed PNG fixtures, PNGs made here (gray, RGB, RGBA, 16-bit) and JPEGs
#                  from cjpeg when it is installed (libjpeg-turbo-progs)
#   FuzzDataFiles  a selector byte (0 IDX, 1 shard, 2 checkpoint) before: IDX files (plain and gzip), and a real
#                  shard and checkpoint made by the kennel binary (KENNEL, default .build/debug/kennel)
#   FuzzHTTP       raw HTTP/1.1 requests: escapes, queries, bodies, chunked and multipart
#   FuzzAPI        a selector byte, a query line and a JSON body for each REST route
# and every input in tools/fuzz/regressions/ that once failed a target (named TARGET-what).
# Run from the repository root: tools/fuzz/make_corpus.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-Fuzz/.build/corpus}"
kennel="${KENNEL:-.build/debug/kennel}"
mkdir -p "$out"/{FuzzImage,FuzzDataFiles,FuzzHTTP,FuzzAPI}
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

python3 - "$out" "$scratch" <<'PY'
import gzip, os, struct, sys, zlib
out, scratch = sys.argv[1], sys.argv[2]

def png(width, height, color_type, depth, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\0" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

images = {
    "gray8": png(9, 7, 0, 8, [bytes((x * 29 + y * 13) % 256 for x in range(9)) for y in range(7)]),
    "rgb8": png(6, 5, 2, 8, [bytes((x * 40 + c * 90 + y) % 256 for x in range(6) for c in range(3)) for y in range(5)]),
    "gray16": png(4, 4, 0, 16, [b"".join(struct.pack(">H", (x * 9000 + y * 3000) % 65536) for x in range(4)) for y in range(4)]),
    "rgba8": png(3, 3, 6, 8, [bytes((x * 80 + c * 60) % 256 for x in range(3) for c in range(4)) for y in range(3)]),
}
for name, data in images.items():
    open(f"{out}/FuzzImage/{name}.png", "wb").write(data)
    if name == "rgb8":
        # A PPM for cjpeg.
        rows = [bytes((x * 40 + c * 90 + y) % 256 for x in range(6) for c in range(3)) for y in range(5)]
        open(f"{scratch}/rgb8.ppm", "wb").write(b"P6\n6 5\n255\n" + b"".join(rows))

def idx(dimensions, values):
    return bytes([0, 0, 8, len(dimensions)]) + b"".join(struct.pack(">I", d) for d in dimensions) + bytes(values)
seeds = {"idx-images": idx([2, 3, 3], range(18)), "idx-labels": idx([4], [0, 1, 2, 1])}
for name, data in seeds.items():
    open(f"{out}/FuzzDataFiles/{name}", "wb").write(b"\0" + data)
    open(f"{out}/FuzzDataFiles/{name}.gz", "wb").write(b"\0" + gzip.compress(data, mtime=0))

requests = {
    "get-query": b"GET /query/a%20b?x=1&y=%41%42&z HTTP/1.1\r\nHost: k\r\n\r\n",
    "get-nul": b"GET /query/a%00b?q=%00 HTTP/1.1\r\nHost: k\r\n\r\n",
    "post-echo": b"POST /echo HTTP/1.1\r\nHost: k\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"POST /echo HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "multipart": (b"POST /echo HTTP/1.1\r\nHost: k\r\nContent-Type: multipart/form-data; boundary=XY\r\n"
                  b"Content-Length: 97\r\n\r\n--XY\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n"
                  b"abc\r\n--XY--\r\n"),
    "pipelined": b"GET /healthz HTTP/1.1\r\nHost: k\r\n\r\nGET /healthz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
}
for name, data in requests.items():
    open(f"{out}/FuzzHTTP/{name}", "wb").write(data)

api = {
    "job": (0 * 1 + 0, "", '{"dataset":"tones","layers":[{"type":"conv2d","filters":4,"kernel":3,"padding":"same"},'
            '{"type":"flatten"},{"type":"dense","units":2}],"epochs":1,"batch_size":4,'
            '"optimizer":{"name":"adam","learning_rate":0.001},"schedule":{"name":"cosine","decay_steps":10}}'),
    "job-post": (15, "", '{"dataset":"tones","preset":"fashion-convnet","epochs":2,"augment":{"flip":true,"shift":2}}'),
    "dataset-post": (16, "", '{"name":"d","format":"imagefolder","path":"images","width":8,"height":8,"channels":3}'),
    "model-post": (17, "", '{"name":"m","job_id":1}'),
    "classify": (18, "top_k=3", '{"instances":[{"b64":"iVBORw0KGgo="}]}'),
    "jobs-page": (0, "limit=2&after=1&state=queued", ""),
    "models-page": (2, "after=m@1", ""),
    "csv": (9, "jobs=1,2&tags=train/loss", ""),
}
for name, (selector, query, body) in api.items():
    open(f"{out}/FuzzAPI/{name}", "wb").write(bytes([selector]) + query.encode() + b"\n" + body.encode())
PY

cp Tests/Fixtures/png/*.png "$out/FuzzImage/"
if command -v cjpeg >/dev/null; then
    cjpeg -quality 80 "$scratch/rgb8.ppm" > "$out/FuzzImage/rgb8.jpg"
    cjpeg -grayscale -progressive "$scratch/rgb8.ppm" > "$out/FuzzImage/gray-progressive.jpg"
fi

# A real shard and checkpoint, written by kennel itself.
if [[ -x "$kennel" ]]; then
    mkdir -p "$scratch/images/n0-a" "$scratch/images/n1-b"
    cp "$out"/FuzzImage/gray8.png "$scratch/images/n0-a/0.png"; cp "$out"/FuzzImage/rgb8.png "$scratch/images/n0-a/1.png"
    cp "$out"/FuzzImage/gray16.png "$scratch/images/n1-b/0.png"; cp "$out"/FuzzImage/rgba8.png "$scratch/images/n1-b/1.png"
    storage=(--data-dir "$scratch/var" --migrations migrations)
    "$kennel" import --name seed --format imagefolder --width 4 --height 4 "${storage[@]}" "$scratch/images" >/dev/null
    "$kennel" train --dataset seed --layers '[{"type":"conv2d","filters":2,"kernel":3,"padding":"same"},{"type":"flatten"},{"type":"dense","units":2}]' \
        --epochs 1 --batch-size 2 "${storage[@]}" >/dev/null
    { printf '\001'; cat "$scratch"/var/datasets/seed.shard; } > "$out/FuzzDataFiles/shard"
    checkpoint="$(find "$scratch/var/checkpoints" -name '*.kennel' | head -n 1)"
    { printf '\002'; cat "$checkpoint"; } > "$out/FuzzDataFiles/checkpoint"
else
    echo "make_corpus.sh: no kennel binary at $kennel; the shard and checkpoint seeds are left out" >&2
fi
# Inputs that once failed a target (tools/fuzz/regressions/TARGET-what): replayed first by every run.
for regression in tools/fuzz/regressions/*; do
    name=$(basename "$regression"); cp "$regression" "$out/${name%%-*}/regression-${name#*-}"
done
for target in "$out"/*; do echo "$(basename "$target"): $(ls "$target" | wc -l) seeds"; done
