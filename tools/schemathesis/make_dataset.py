#!/usr/bin/env python3
"""Write a tiny image-folder dataset for the schemathesis run (stdlib only).

Usage: make_dataset.py DIR [PER_CLASS]

Creates DIR/n0-dark and DIR/n1-bright, each holding PER_CLASS (default 10)
8x8 grayscale PNGs: dark ones with values 0..63, bright ones 192..255.
"""
import os
import random
import struct
import sys
import zlib


def png(width, height, pixels):
    """Encode 8-bit grayscale rows (a list of bytes objects) as a PNG file."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in pixels)  # filter type 0 per row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    root = sys.argv[1]
    per_class = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    rng = random.Random(42)
    for cls, (lo, hi) in (("n0-dark", (0, 63)), ("n1-bright", (192, 255))):
        folder = os.path.join(root, cls)
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            rows = [bytes(rng.randint(lo, hi) for _ in range(8)) for _ in range(8)]
            with open(os.path.join(folder, f"{i:03d}.png"), "wb") as f:
                f.write(png(8, 8, rows))


if __name__ == "__main__":
    main()
