"""A QR code as inline SVG markup, for pages to show a link a phone should scan (the TOTP setup link)."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(text: str, *, title: str) -> Markup:
    """`text` as a QR code (error correction M), an <svg> element to put in the page as it is: no image
    request and no data: URL, which the Content Security Policy (img-src 'self') would refuse, and no
    style attribute (presentation attributes only). `title` names it for screen readers."""
    code = segno.make(text, error="m", boost_error=False)
    svg = code.svg_inline(scale=4, border=4, dark="#000", light="#fff", title=title, svgclass="qr", lineclass=None)
    # segno escapes the title; the rest is numbers and path data. role=img: read as one picture, by its title.
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))
