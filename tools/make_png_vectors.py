#!/usr/bin/env python3
"""Writes the PNG decoding fixtures and TensorFlow's reference decodes of them.

Run from the repository root, with a Python that has tensorflow-cpu, numpy and pypng:

    python3 -m venv /work/tfvenv            # anywhere outside the repository
    /work/tfvenv/bin/pip install tensorflow-cpu numpy pypng
    /work/tfvenv/bin/python tools/make_png_vectors.py

It writes
  Tests/Fixtures/png/*.png          tiny PNGs with fixed pixel values (no randomness, no gAMA/sRGB/iCCP chunks)
  Tests/Fixtures/png_reference.json what TensorFlow makes of each of them

TensorFlow is needed only to regenerate these files. The tests read the committed copies and never need
TensorFlow, numpy or pypng. Running the script again with the same TensorFlow version rewrites identical files.

Fields of each case in png_reference.json (all arrays flat, row-major, channels last):
  file                   path relative to Tests/Fixtures
  width, height          image size
  source_bit_depth       8 or 16; source_channels: channels stored in the file (palette counts as 1)
  source_uint16          16-bit files only: tf.io.decode_png(channels=0, dtype=tf.uint16), i.e. the stored samples
  decoded                tf.io.decode_png(channels=0, dtype=tf.uint8); decoded_channels is its channel count
  rgb                    tf.io.decode_png(channels=3, dtype=tf.uint8): gray/palette expanded, alpha dropped
  gray                   tf.image.rgb_to_grayscale(tf.cast(rgb, tf.float32)), values 0..255, not rounded
                         (weights 0.2989, 0.5870, 0.1140), written as the shortest decimal of the float32
  decoded_gray_channel1  tf.io.decode_png(channels=1, dtype=tf.uint8), for reference only

What TensorFlow 2.21 was seen to do (checked when these files were made):
  - 16-bit to uint8 keeps the high byte, v >> 8 (libpng's png_set_strip_16), not round(v / 257); no gamma is applied.
  - channels=3 drops alpha (RGBA, gray+alpha, palette tRNS) without compositing, and copies gray into R, G and B.
  - channels=1 on colour input is libpng's rgb_to_gray with TF's weights, truncated: (9797 R + 19234 G + 3737 B) >> 15
    (for 16-bit input on the 16-bit samples, then >> 8); it differs by up to 1 from round(rgb_to_grayscale).
  - rgb_to_grayscale's weights sum to 0.9999, so white gives 254.97452, not 255.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import png  # noqa: E402  (pypng)
import tensorflow as tf  # noqa: E402

FIXTURES = "Tests/Fixtures"
PNG_DIR = "png"

# --- fixed pixel values -------------------------------------------------------------------------------------------

W, H = 6, 5

# 30 RGB pixels: primaries, white, black, mid grays, secondaries, then fixed arbitrary colours.
RGB8 = [
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (128, 128, 128),
    (127, 127, 127), (64, 64, 64), (192, 192, 192), (255, 255, 0), (0, 255, 255), (255, 0, 255),
    (12, 34, 56), (200, 100, 50), (1, 2, 3), (254, 253, 252), (99, 150, 201), (33, 66, 99),
] + [((37 * i + 11) % 256, (91 * i + 7) % 256, (53 * i + 200) % 256) for i in range(12)]

# 16-bit samples, none a multiple of 257 except the ends; several where v >> 8 and round(v / 257) differ
# (255, 65280, 0x7FFF, 0x80FF, ...).
GRAY16 = [
    0, 65535, 1, 255, 256, 65280,
    32767, 32768, 32896, 32639, 0x80FF, 0x7F80,
    1000, 12345, 23456, 34567, 45678, 56789,
    128, 129, 385, 65407, 65408, 65534,
    3000, 9999, 20000, 40000, 50000, 60000,
]
RGB16 = [
    (65535, 0, 0), (0, 65535, 0), (0, 0, 65535), (65535, 65535, 65535), (0, 0, 0), (32768, 32768, 32768),
    (65280, 255, 128), (0x80FF, 0x7F80, 0x8080), (1000, 30000, 60000), (12345, 23456, 34567), (65407, 65408, 129),
    (400, 800, 1600),
] + [((4099 * i + 77) % 65536, (30011 * i + 3) % 65536, (15013 * i + 40000) % 65536) for i in range(18)]

# 8-bit palette: 16 entries including the primaries, white, black and grays; indices cover all of them.
PALETTE = [
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (128, 128, 128),
    (127, 127, 127), (64, 64, 64), (255, 255, 0), (0, 255, 255), (255, 0, 255), (200, 100, 50),
    (12, 34, 56), (99, 150, 201), (254, 253, 252), (1, 2, 3),
]
PALETTE_INDICES = [i % 16 for i in range(16)] + [(7 * i + 3) % 16 for i in range(14)]
# The same palette with a tRNS chunk (transparent red, half-transparent green, ...), to show that TF drops it too.
PALETTE_ALPHA = [0, 128, 255, 1, 64, 200, 255, 255, 0, 77, 254, 33, 255, 255, 255, 255]

# RGBA: the RGB pixels with alpha 0, partial and opaque.
ALPHA8 = [0, 255, 128, 0, 1, 254, 64, 192, 255, 0, 127, 200,
          255, 0, 33, 100, 255, 10, 0, 50, 150, 250, 128, 255,
          5, 0, 255, 77, 180, 0]

# Gray + alpha.
GRAY8 = [0, 255, 128, 127, 64, 192, 1, 254, 10, 245, 33, 200,
         255, 0, 100, 150, 50, 77, 0, 255, 128, 99, 3, 252,
         16, 32, 48, 80, 160, 240]
GRAY_ALPHA8 = [255, 0, 128, 0, 255, 64, 0, 1, 254, 200, 0, 127,
               255, 255, 0, 30, 90, 255, 128, 128, 0, 255, 7, 249,
               0, 255, 60, 120, 180, 240]


def rows(flat, per_pixel):
    """Splits a flat sample list into H rows of W * per_pixel samples."""
    step = W * per_pixel
    return [flat[r * step:(r + 1) * step] for r in range(H)]


def flatten(pixels):
    return [s for p in pixels for s in p]


CASES = [
    # name, writer keyword arguments, rows
    ("gray16_nogama", dict(greyscale=True, bitdepth=16), rows(GRAY16, 1)),
    ("rgb16_nogama", dict(greyscale=False, bitdepth=16), rows(flatten(RGB16), 3)),
    ("rgb8", dict(greyscale=False, bitdepth=8), rows(flatten(RGB8), 3)),
    ("palette8", dict(palette=PALETTE, bitdepth=8), rows(PALETTE_INDICES, 1)),
    ("palette8_trns", dict(palette=[c + (a,) for c, a in zip(PALETTE, PALETTE_ALPHA)], bitdepth=8),
     rows(PALETTE_INDICES, 1)),
    ("rgba8", dict(greyscale=False, alpha=True, bitdepth=8),
     rows(flatten(c + (a,) for c, a in zip(RGB8, ALPHA8)), 4)),
    ("gray_alpha8", dict(greyscale=True, alpha=True, bitdepth=8),
     rows(flatten(zip(GRAY8, GRAY_ALPHA8)), 2)),
]


# --- writing and checking the PNGs --------------------------------------------------------------------------------

def png_bytes(kwargs, pixel_rows):
    import io
    buffer = io.BytesIO()
    png.Writer(width=W, height=H, **kwargs).write(buffer, pixel_rows)
    return buffer.getvalue()


def chunk_types(data):
    types, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        types.append(data[offset + 4:offset + 8].decode("ascii"))
        offset += 12 + length
    return types


def float32_list(array):
    # str() of a numpy float32 is the shortest decimal that reads back as the same float32.
    return [float(str(np.float32(v))) for v in np.asarray(array, dtype=np.float32).reshape(-1)]


def int_list(array):
    return [int(v) for v in np.asarray(array).reshape(-1)]


def decode_case(name, kwargs, pixel_rows):
    data = png_bytes(kwargs, pixel_rows)
    chunks = chunk_types(data)
    for banned in ("gAMA", "sRGB", "iCCP", "cHRM"):
        if banned in chunks:
            sys.exit(f"{name}: unexpected {banned} chunk")
    relative = f"{PNG_DIR}/{name}.png"
    with open(os.path.join(FIXTURES, relative), "wb") as handle:
        handle.write(data)

    bit_depth = kwargs["bitdepth"]
    source_channels = 1 if "palette" in kwargs else (1 if kwargs.get("greyscale") else 3) + (
        1 if kwargs.get("alpha") else 0)

    raw = tf.constant(data)
    decoded = tf.io.decode_png(raw, channels=0, dtype=tf.uint8).numpy()
    rgb = tf.io.decode_png(raw, channels=3, dtype=tf.uint8).numpy()
    channel1 = tf.io.decode_png(raw, channels=1, dtype=tf.uint8).numpy()
    gray = tf.image.rgb_to_grayscale(tf.cast(rgb, tf.float32)).numpy()

    assert decoded.shape[:2] == (H, W) and rgb.shape == (H, W, 3) and channel1.shape == (H, W, 1)
    assert gray.shape == (H, W, 1) and gray.dtype == np.float32

    case = {
        "file": relative,
        "width": W,
        "height": H,
        "source_bit_depth": bit_depth,
        "source_channels": source_channels,
        "decoded_channels": int(decoded.shape[2]),
        "decoded": int_list(decoded),
        "rgb": int_list(rgb),
        "gray": float32_list(gray),
        "decoded_gray_channel1": int_list(channel1),
    }
    if bit_depth == 16:
        source = tf.io.decode_png(raw, channels=0, dtype=tf.uint16).numpy()
        expected = np.array(pixel_rows, dtype=np.uint16).reshape(source.shape)
        assert np.array_equal(source, expected), f"{name}: uint16 decode differs from the written samples"
        case["source_uint16"] = int_list(source)
    return case


def dump(reference):
    """One case per line, keys sorted, so a regenerated file diffs line by line."""
    lines = ["{", f' "about": {json.dumps(reference["about"])},', ' "cases": [']
    cases = reference["cases"]
    for index, case in enumerate(cases):
        comma = "," if index + 1 < len(cases) else ""
        lines.append("  " + json.dumps(case, sort_keys=True, separators=(",", ":")) + comma)
    lines += [" ]", "}"]
    return "\n".join(lines) + "\n"


def main():
    if not os.path.isdir(FIXTURES):
        sys.exit(f"run from the repository root: {FIXTURES} not found")
    os.makedirs(os.path.join(FIXTURES, PNG_DIR), exist_ok=True)
    cases = [decode_case(name, kwargs, pixel_rows) for name, kwargs, pixel_rows in CASES]
    reference = {
        "about": (f"TensorFlow {tf.__version__} (numpy {np.__version__}, pypng {png.__version__}) decodes of "
                  "Tests/Fixtures/png/*.png, made by tools/make_png_vectors.py. decoded: tf.io.decode_png("
                  "channels=0, dtype=uint8); rgb: decode_png(channels=3, dtype=uint8); gray: "
                  "tf.image.rgb_to_grayscale(float32(rgb)) unrounded, weights 0.2989/0.5870/0.1140; "
                  "decoded_gray_channel1: decode_png(channels=1, dtype=uint8); source_uint16: decode_png("
                  "channels=0, dtype=uint16) for 16-bit files. Arrays flat, row-major, channels last."),
        "cases": cases,
    }
    with open(os.path.join(FIXTURES, "png_reference.json"), "w") as handle:
        handle.write(dump(reference))
    print(f"wrote {len(cases)} cases to {FIXTURES}/png_reference.json")


if __name__ == "__main__":
    main()
