"""The site's icon: ``favicon.svg`` from a template, and ``favicon.ico`` for those who ask the root.

Pages name ``favicon.svg`` in their head; the template (``templates/favicon.svg``) is the
operator's to override like any other. Browsers still ask ``/favicon.ico`` of every site that
names none (and feed readers do, whatever the page says), so the site answers it too: an ICO
file whose one image is a PNG, a square in the theme colour. It is drawn here with ``zlib``
and ``struct``, as a PNG of one colour needs no imaging library.
"""

from __future__ import annotations

import struct
import zlib

from jinja2 import Environment

from publisher.config.settings import SiteSettings
from publisher.models import Output
from publisher.site.render import render

SVG_ICON, ICO_ICON = "favicon.svg", "favicon.ico"
SVG = "image/svg+xml"
ICO = "image/x-icon"
SIZE = 32  # pixels a side: what a browser tab shows at twice the density
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rgb(color: str) -> tuple[int, int, int]:
    """The red, green and blue of ``#rgb`` or ``#rrggbb`` (the forms the setting accepts)."""
    digits = color.removeprefix("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    value = int(digits, 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def square_png(color: tuple[int, int, int], size: int = SIZE) -> bytes:
    """A PNG of an opaque square ``size`` pixels a side, of one colour (8-bit RGBA)."""
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # depth 8, RGBA, no interlace
    row = b"\x00" + bytes((*color, 0xFF)) * size  # each scanline starts with its filter: none
    pixels = zlib.compress(row * size, 9)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def ico_of_png(png: bytes, size: int = SIZE) -> bytes:
    """An ICO file holding one PNG image (read by every browser, and by Windows since Vista)."""
    directory = struct.pack("<HHH", 0, 1, 1)  # reserved, type 1 (icon), one image
    offset = len(directory) + 16  # the image follows its one 16-byte directory entry
    entry = struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(png), offset)
    return directory + entry + png


def favicons(env: Environment, site: SiteSettings) -> list[Output]:
    """``favicon.svg`` rendered from its template, and ``favicon.ico`` in the theme colour.

    :raises RenderError: when the template is missing or fails.
    """
    svg = render(env, SVG_ICON, site=site)
    color = rgb(site.theme_color)
    return [
        Output(SVG_ICON, SVG, svg.encode()),
        Output(ICO_ICON, ICO, ico_of_png(square_png(color))),
    ]
