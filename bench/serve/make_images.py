"""Synthetic image folders for the serving benchmark, standard library only: gray PNGs whose pattern depends on
the class (so a model has something to learn), and the request image as PGM (for cjpeg) and PNG: smooth shading
with some edges and texture, so its JPEG is about as large as a photo's rather than full of sawtooth noise.
Usage: make_images.py OUT_DIR CLASSES PER_CLASS WIDTH HEIGHT"""
import math
import os
import struct
import sys
import zlib


def png(width, height, pixel):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


def pattern(label, index):
    return lambda x, y: (x * (label + 1) * 3 + y * (index + 2) + label * 37) % 256


out, classes, per_class, width, height = sys.argv[1], *map(int, sys.argv[2:])
for label in range(classes):
    folder = os.path.join(out, f"n{label:08d}-class{label}")
    os.makedirs(folder, exist_ok=True)
    for index in range(per_class):
        with open(os.path.join(folder, f"{index}.png"), "wb") as f:
            f.write(png(width, height, pattern(label, index)))


def photo(x, y):
    shade = 90 + 60 * math.sin(x / 37) * math.cos(y / 29) + 40 * (y / height)
    edge = 50 if (x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2 else 0
    texture = 12 * math.sin(x * 0.9 + y * 0.4)
    return max(0, min(255, int(shade + edge + texture)))


with open(os.path.join(out, "request.pgm"), "wb") as f:
    f.write(b"P5 %d %d 255\n" % (width, height) + bytes(photo(x, y) for y in range(height) for x in range(width)))
with open(os.path.join(out, "request.png"), "wb") as f:
    f.write(png(width, height, photo))
