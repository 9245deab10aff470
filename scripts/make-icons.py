#!/usr/bin/env python3
"""Generate token2go's icons from one small design: a white key on a blue rounded square.

Writes assets/favicon.svg, favicon-16x16.png, favicon-32x32.png, apple-touch-icon.png (180x180)
and favicon.ico (PNG images of 16, 32 and 48 pixels). Pure standard library: the shapes are
rasterised analytically with 8x8 supersampling and written with zlib + struct. The output is
deterministic, so running it again changes nothing unless the design changes.

Usage: python3 scripts/make-icons.py   (from the repository root, or anywhere)
"""

import pathlib
import struct
import zlib

ASSETS = pathlib.Path(__file__).resolve().parent.parent / "assets"

# The design, in a 64x64 coordinate space.
SIZE = 64.0
BACKGROUND = (0x1D, 0x4E, 0x89)  # deep blue, readable in light and dark browser chrome
FOREGROUND = (0xFF, 0xFF, 0xFF)
CORNER = 14.0  # radius of the rounded square
HEAD = (21.0, 32.0, 12.5)  # key bow: centre x, centre y, radius
HOLE = (21.0, 32.0, 5.0)  # hole in the bow
BARS = [  # x0, y0, x1, y1: shaft and two bits
    (30.0, 28.5, 56.0, 35.5),
    (43.0, 35.0, 48.0, 44.0),
    (51.0, 35.0, 56.0, 41.0),
]


def svg() -> str:
    bg = "#%02x%02x%02x" % BACKGROUND
    fg = "#%02x%02x%02x" % FOREGROUND
    cx, cy, r = HEAD
    hx, hy, hr = HOLE
    # The hole is cut with the even-odd rule, so the icon stays correct on any background.
    bow = (
        f"M{cx - r:g} {cy:g}a{r:g} {r:g} 0 1 0 {2 * r:g} 0a{r:g} {r:g} 0 1 0 {-2 * r:g} 0z"
        f"M{hx - hr:g} {hy:g}a{hr:g} {hr:g} 0 1 0 {2 * hr:g} 0a{hr:g} {hr:g} 0 1 0 {-2 * hr:g} 0z"
    )
    bars = "".join(
        f'<rect x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" height="{y1 - y0:g}"/>'
        for x0, y0, x1, y1 in BARS
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
        "<title>token2go</title>"
        f'<rect width="64" height="64" rx="{CORNER:g}" fill="{bg}"/>'
        f'<g fill="{fg}"><path fill-rule="evenodd" d="{bow}"/>{bars}</g>'
        "</svg>\n"
    )


def in_rounded_square(x: float, y: float, radius: float) -> bool:
    if not (0.0 <= x <= SIZE and 0.0 <= y <= SIZE):
        return False
    # Distance to the inner square [radius, SIZE - radius]^2 must be within the radius.
    dx = max(radius - x, 0.0, x - (SIZE - radius))
    dy = max(radius - y, 0.0, y - (SIZE - radius))
    return dx * dx + dy * dy <= radius * radius


def in_circle(x: float, y: float, circle) -> bool:
    cx, cy, r = circle
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def in_key(x: float, y: float) -> bool:
    if in_circle(x, y, HEAD) and not in_circle(x, y, HOLE):
        return True
    return any(x0 <= x <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in BARS)


def render(pixels: int, corner: float) -> bytes:
    """RGBA rows, straight (not premultiplied) alpha, as PNG wants them."""
    samples = 8
    scale = SIZE / pixels
    out = bytearray()
    for py in range(pixels):
        for px in range(pixels):
            r = g = b = a = 0.0  # premultiplied sums
            for sy in range(samples):
                for sx in range(samples):
                    x = (px + (sx + 0.5) / samples) * scale
                    y = (py + (sy + 0.5) / samples) * scale
                    if not in_rounded_square(x, y, corner):
                        continue
                    colour = FOREGROUND if in_key(x, y) else BACKGROUND
                    r, g, b, a = r + colour[0], g + colour[1], b + colour[2], a + 1.0
            n = samples * samples
            if a == 0.0:
                out += b"\0\0\0\0"
            else:
                out += bytes(
                    (round(r / a), round(g / a), round(b / a), round(255 * a / n))
                )
    return bytes(out)


def png(pixels: int, corner: float = CORNER) -> bytes:
    rgba = render(pixels, corner)
    stride = pixels * 4
    raw = b"".join(
        b"\0" + rgba[row * stride : (row + 1) * stride] for row in range(pixels)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", pixels, pixels, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(images) -> bytes:
    """An ICO whose entries are PNG images (supported by every browser since IE 9)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, data = b"", b""
    for pixels, image in images:
        side = 0 if pixels >= 256 else pixels
        entries += struct.pack(
            "<BBBBHHII", side, side, 0, 0, 1, 32, len(image), offset + len(data)
        )
        data += image
    return header + entries + data


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    (ASSETS / "favicon.svg").write_text(svg())
    (ASSETS / "favicon-16x16.png").write_bytes(png(16))
    (ASSETS / "favicon-32x32.png").write_bytes(png(32))
    # iOS rounds the corners itself and shows transparency as black: fill the whole square.
    (ASSETS / "apple-touch-icon.png").write_bytes(png(180, corner=0.0))
    (ASSETS / "favicon.ico").write_bytes(ico([(s, png(s)) for s in (16, 32, 48)]))


if __name__ == "__main__":
    main()
