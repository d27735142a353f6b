"""Tiny grayscale PNGs made with the standard library only (zlib + struct), for test datasets and uploads."""

import os
import struct
import zlib


def encode_gray_png(pixels):
    """PNG bytes for `pixels`, a list of rows of 0…255 ints (8-bit grayscale, no interlace)."""
    height, width = len(pixels), len(pixels[0])

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    # Each scanline starts with filter type 0 (None).
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def shape_image(shape, size, offset):
    """A `size`×`size` image of a bright circle or square on black, moved by `offset` pixels so samples differ."""
    center = size / 2 + offset
    radius = size / 4
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            dx, dy = x + 0.5 - center, y + 0.5 - center
            inside = dx * dx + dy * dy <= radius * radius if shape == "circle" else max(abs(dx), abs(dy)) <= radius
            row.append(230 if inside else 20)
        rows.append(row)
    return rows


def write_shapes_dataset(root, per_class, size=16):
    """An imagefolder tree under `root`: classes n001-circle and n002-square, `per_class` PNGs each."""
    for folder, shape in (("n001-circle", "circle"), ("n002-square", "square")):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        for index in range(per_class):
            path = os.path.join(root, folder, f"{index:03d}.png")
            with open(path, "wb") as file:
                file.write(encode_gray_png(shape_image(shape, size, index % 5 - 2)))
