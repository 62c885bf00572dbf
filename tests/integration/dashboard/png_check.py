#!/usr/bin/env python3
"""png_check.py FILE WIDTH HEIGHT: the PNG has that size and is not blank.

Stdlib only: decodes the PNG (8-bit RGB/RGBA, non-interlaced, as Chromium writes it), undoes
the row filters and requires many distinct colours with no single colour covering almost all."""
import struct
import sys
import zlib
from collections import Counter


def fail(msg):
    print(f"png_check: {msg}")
    sys.exit(1)


def main():
    path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = ihdr
    if (width, height) != (want_w, want_h):
        fail(f"size {width}x{height}, want {want_w}x{want_h}")
    if depth != 8 or ctype not in (2, 6) or interlace:
        fail(f"unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = Counter()
    for y in range(height):
        f = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:  # every 4th row is plenty
            for x in range(0, stride, bpp * 2):
                colours[bytes(row[x:x + 3])] += 1
        prev = row
    total = sum(colours.values())
    top = colours.most_common(1)[0][1] / total
    print(f"png_check: {width}x{height}, {len(colours)} distinct colours, most common covers {top:.0%}")
    if len(colours) < 40:
        fail("too few colours: the page looks blank")
    if top > 0.9:
        fail("one colour covers over 90%: the page looks blank")


main()
