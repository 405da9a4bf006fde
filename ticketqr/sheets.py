"""A buyer's tickets drawn for showing at the gate: one tile per ticket with the event's name, the QR
symbol and the code in text under it; as an SVG or PNG sheet (tiles stacked), or a PDF with one ticket
per A4 page. Everything is computed in memory; the caller writes or serves the bytes."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import segno
from PIL import Image, ImageDraw, ImageFont

from ticketqr.symbol import make_symbol, symbol_text

TILE_WIDTH = 400  # pixels (SVG user units) at zoom 1
PADDING = 24
QUIET_ZONE = 4  # modules of white around the symbol, as the QR standard asks
MAX_MODULE = 8  # pixels per module at zoom 1: a version-1 ticket symbol is 232 px with its quiet zone
NAME_SIZE, NAME_LINE, NAME_CHARS, NAME_LINES = 22, 28, 30, 2
CODE_SIZE, CODE_LINE = 20, 26
CODE_CHARS = 28  # a line of the code in text; an HMAC code (19-25 characters) is one, Ed25519's five
NOTE_SIZE, NOTE_LINE = 14, 20
GAP = 8
PDF_DPI = 150
A4_AT_PDF_DPI = (1240, 1754)
SANS = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"


@dataclass(frozen=True)
class TicketFace:
    """What one ticket shows: the event's name and the ticket's code, printed as it was issued."""

    event_name: str
    code: str


@dataclass(frozen=True)
class _Tile:
    """Where each part of one ticket goes, at zoom 1."""

    symbol: segno.QRCode
    module: int  # pixels per module
    name_lines: tuple[str, ...]
    code_lines: tuple[str, ...]
    note: str

    @property
    def symbol_side(self) -> int:
        return self.module * _modules(self.symbol)

    @property
    def symbol_top(self) -> int:
        return PADDING + NAME_LINE * len(self.name_lines) + GAP

    @property
    def code_baseline(self) -> int:
        return self.symbol_top + self.symbol_side + GAP + CODE_SIZE

    @property
    def note_baseline(self) -> int:
        return self.code_baseline + CODE_LINE * (len(self.code_lines) - 1) + NOTE_LINE

    @property
    def height(self) -> int:
        return self.note_baseline + PADDING


def _modules(symbol: segno.QRCode) -> int:
    """The symbol's side in modules, quiet zone included."""
    return int(symbol.symbol_size(scale=1, border=QUIET_ZONE)[0])


def _printable(text: str) -> str:
    """``text`` without characters no image can show (controls, and what XML 1.0 forbids)."""
    return "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else " " for ch in text)


def _name_lines(name: str) -> tuple[str, ...]:
    """The event's name on at most two lines; a longer one ends with an ellipsis."""
    words = " ".join(_printable(name).split())
    lines = textwrap.wrap(words, NAME_CHARS, break_long_words=True) or [""]
    if len(lines) > NAME_LINES:
        lines = [*lines[: NAME_LINES - 1], lines[NAME_LINES - 1][: NAME_CHARS - 1] + "…"]
    return tuple(lines)


def _tiles(faces: list[TicketFace]) -> list[_Tile]:
    if not faces:
        raise ValueError("no tickets to draw")
    tiles = []
    for number, face in enumerate(faces, start=1):
        symbol = make_symbol(symbol_text(face.code))
        module = max(1, min(MAX_MODULE, (TILE_WIDTH - 2 * PADDING) // _modules(symbol)))
        note = f"ticket {number} of {len(faces)}"
        code = _printable(face.code)
        code_lines = tuple(code[i : i + CODE_CHARS] for i in range(0, len(code), CODE_CHARS)) or ("",)
        tiles.append(_Tile(symbol, module, _name_lines(face.event_name), code_lines, note))
    return tiles


# --- SVG -------------------------------------------------------------------------------------------


def _svg_path(symbol: segno.QRCode) -> str:
    """The dark modules as one path, a rectangle per horizontal run (in modules, quiet zone included)."""
    parts = []
    for y, row in enumerate(symbol.matrix_iter(scale=1, border=QUIET_ZONE)):
        x = 0
        row = list(row)
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    return "".join(parts)


def tickets_svg(faces: list[TicketFace]) -> bytes:
    """All tickets as one SVG document, tiles stacked top to bottom with a cutting line between them."""
    tiles = _tiles(faces)
    height = sum(tile.height for tile in tiles)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{TILE_WIDTH}" height="{height}" '
        f'viewBox="0 0 {TILE_WIDTH} {height}">',
        f'<rect width="{TILE_WIDTH}" height="{height}" fill="#fff"/>',
    ]
    top = 0
    centre = TILE_WIDTH // 2
    for index, tile in enumerate(tiles):
        out.append(f'<g class="ticket" transform="translate(0 {top})">')
        if index:
            out.append(f'<line x1="0" y1="0" x2="{TILE_WIDTH}" y2="0" stroke="#999" stroke-dasharray="6 4"/>')
        for line_number, line in enumerate(tile.name_lines):
            baseline = PADDING + NAME_SIZE + line_number * NAME_LINE
            out.append(
                f'<text class="event" x="{centre}" y="{baseline}" text-anchor="middle" '
                f'font-family={quoteattr(SANS)} font-size="{NAME_SIZE}" font-weight="bold">'
                f"{escape(line)}</text>"
            )
        left = (TILE_WIDTH - tile.symbol_side) // 2
        out.append(
            f'<path class="qr" transform="translate({left} {tile.symbol_top}) scale({tile.module})" '
            f'fill="#000" shape-rendering="crispEdges" d="{_svg_path(tile.symbol)}"/>'
        )
        # One <text> with a <tspan> per line: the code reads as one text (select, copy, search).
        lines = "".join(
            f'<tspan x="{centre}" dy="{0 if n == 0 else CODE_LINE}">{escape(line)}</tspan>'
            for n, line in enumerate(tile.code_lines)
        )
        out.append(
            f'<text class="code" x="{centre}" y="{tile.code_baseline}" text-anchor="middle" '
            f'font-family={quoteattr(MONO)} font-size="{CODE_SIZE}">{lines}</text>'
        )
        out.append(
            f'<text class="note" x="{centre}" y="{tile.note_baseline}" text-anchor="middle" '
            f'font-family={quoteattr(SANS)} font-size="{NOTE_SIZE}" fill="#555">{escape(tile.note)}</text>'
        )
        out.append("</g>")
        top += tile.height
    out.append("</svg>")
    return ("\n".join(out) + "\n").encode("utf-8")


# --- PNG and PDF -----------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's own font (built in, with FreeType): nothing to find on the machine.
    return ImageFont.load_default(size=size)


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, *, size: int, width: int, fill: int) -> None:
    """``text`` centred on ``width``, its baseline at ``y``; shrunk until it fits."""
    while True:
        font = _font(size)
        if draw.textlength(text, font=font) <= width - 8 or size <= 8:
            break
        size -= 1
    draw.text((width / 2, y), text, font=font, fill=fill, anchor="ms")


def _tile_image(tile: _Tile, *, zoom: int) -> Image.Image:
    width = TILE_WIDTH * zoom
    image = Image.new("L", (width, tile.height * zoom), 255)
    draw = ImageDraw.Draw(image)
    for line_number, line in enumerate(tile.name_lines):
        baseline = (PADDING + NAME_SIZE + line_number * NAME_LINE) * zoom
        _centred(draw, baseline, line, size=NAME_SIZE * zoom, width=width, fill=0)
    buffer = io.BytesIO()
    tile.symbol.save(buffer, kind="png", scale=tile.module * zoom, border=QUIET_ZONE)
    symbol = Image.open(buffer).convert("L")
    image.paste(symbol, ((width - symbol.width) // 2, tile.symbol_top * zoom))
    for n, line in enumerate(tile.code_lines):
        baseline = (tile.code_baseline + n * CODE_LINE) * zoom
        _centred(draw, baseline, line, size=CODE_SIZE * zoom, width=width, fill=0)
    _centred(draw, tile.note_baseline * zoom, tile.note, size=NOTE_SIZE * zoom, width=width, fill=85)
    return image


def tickets_png(faces: list[TicketFace]) -> bytes:
    """All tickets as one grayscale PNG, tiles stacked top to bottom with a cutting line between them."""
    tiles = [_tile_image(tile, zoom=1) for tile in _tiles(faces)]
    sheet = Image.new("L", (TILE_WIDTH, sum(t.height for t in tiles)), 255)
    draw = ImageDraw.Draw(sheet)
    top = 0
    for index, tile in enumerate(tiles):
        sheet.paste(tile, (0, top))
        if index:
            for x in range(0, TILE_WIDTH, 10):
                draw.line([(x, top), (x + 5, top)], fill=153)
        top += tile.height
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def tickets_pdf(faces: list[TicketFace]) -> bytes:
    """A printable PDF: one ticket per A4 page, drawn at twice the PNG's size (Pillow writes the PDF)."""
    pages = []
    for tile in _tiles(faces):
        page = Image.new("L", A4_AT_PDF_DPI, 255)
        drawn = _tile_image(tile, zoom=2)
        page.paste(drawn, ((page.width - drawn.width) // 2, PDF_DPI))  # an inch from the top
        pages.append(page)
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=PDF_DPI)
    return buffer.getvalue()
