"""Big text for verdicts and serials, readable from a metre away, as large as the widget's size allows.

Two renderings: on a roomy screen, the word drawn with Pillow's built-in font and printed with
half-block characters (two pixel rows per terminal row); on an 80x24 terminal, a three-row
box-drawing font in the style of Textual's ``Digits``; below that, plain bold capitals.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# Three rows per glyph, three columns each (digits as in Textual's Digits).
_FONT: dict[str, tuple[str, str, str]] = {
    "A": ("┏━┓", "┣━┫", "╹ ╹"),
    "C": ("┏━╸", "┃  ", "┗━╸"),
    "D": ("┳━┓", "┃ ┃", "┻━┛"),
    "E": ("┏━╸", "┣━ ", "┗━╸"),
    "G": ("┏━╸", "┃╺┓", "┗━┛"),
    "I": ("╺┳╸", " ┃ ", "╺┻╸"),
    "K": ("╻┏╸", "┣┫ ", "╹┗╸"),
    "L": ("╻  ", "┃  ", "┗━╸"),
    "M": ("┏┳┓", "┃┃┃", "╹╹╹"),
    "N": ("┏┓╻", "┃┗┫", "╹ ╹"),
    "O": ("┏━┓", "┃ ┃", "┗━┛"),
    "R": ("┏━┓", "┣┳┛", "╹┗╸"),
    "S": ("┏━╸", "┗━┓", "╺━┛"),
    "T": ("╺┳╸", " ┃ ", " ╹ "),
    "U": ("╻ ╻", "┃ ┃", "┗━┛"),
    "V": ("╻ ╻", "┃ ┃", "╰┳╯"),
    "W": ("╻ ╻", "┃┃┃", "┗┻┛"),
    "X": ("╲ ╱", " ╳ ", "╱ ╲"),
    "Y": ("╻ ╻", "┗┳┛", " ╹ "),
    "0": ("┏━┓", "┃ ┃", "┗━┛"),
    "1": ("╺┓ ", " ┃ ", "╺┻╸"),
    "2": ("╺━┓", "┏━┛", "┗━╸"),
    "3": ("╺━┓", " ━┫", "╺━┛"),
    "4": ("╻ ╻", "┗━┫", "  ╹"),
    "5": ("┏━╸", "┗━┓", "╺━┛"),
    "6": ("┏━╸", "┣━┓", "┗━┛"),
    "7": ("╺━┓", "  ┃", "  ╹"),
    "8": ("┏━┓", "┣━┫", "┗━┛"),
    "9": ("┏━┓", "┗━┫", "╺━┛"),
    " ": ("  ", "  ", "  "),
}

_MIN_PIXEL_ROWS = 9  # below this the drawn font is less legible than the box font
_MAX_FONT_SIZE = 96
_INK = 110  # grey level above which an anti-aliased pixel counts as ink


def box_rows(word: str) -> tuple[str, ...] | None:
    """The three rows of ``word`` in the box font, or None if a character has no glyph."""
    rows: list[list[str]] = [[], [], []]
    for char in word.upper():
        glyph = _FONT.get(char)
        if glyph is None:
            return None
        for row, part in zip(rows, glyph, strict=True):
            row.append(part)
    return tuple(" ".join(row) for row in rows)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont | None:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return None  # a Pillow without FreeType (or before 10.1): the box font is used instead


def _draw(word: str, size: int) -> Image.Image | None:
    font = _font(size)
    if font is None:
        return None
    left, top, right, bottom = (int(v) for v in font.getbbox(word))
    stroke = 1 if size >= 20 else 0  # a little extra weight once strokes are thick enough to take it
    image = Image.new("L", (right - left + 4 + 2 * stroke, bottom - top + 4 + 2 * stroke), 0)
    ImageDraw.Draw(image).text(
        (2 + stroke - left, 2 + stroke - top), word, font=font, fill=255, stroke_width=stroke, stroke_fill=255
    )
    box = image.point(lambda v: 255 if v > _INK else 0).getbbox()
    return image.crop(box) if box else None


def _half_blocks(image: Image.Image) -> tuple[str, ...]:
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    rows = []
    for y in range(0, height, 2):
        line = []
        for x in range(width):
            top = pixels[x, y] > _INK  # type: ignore[operator]
            bottom = y + 1 < height and pixels[x, y + 1] > _INK  # type: ignore[operator]
            line.append("█" if top and bottom else "▀" if top else "▄" if bottom else " ")
        rows.append("".join(line).rstrip())
    return tuple(rows)


@lru_cache(maxsize=256)
def drawn_rows(word: str, width: int, height: int) -> tuple[str, ...] | None:
    """``word`` drawn as large as fits ``width`` x ``height`` cells, or None if it cannot be drawn
    at a legible size."""
    if not word.strip() or height * 2 < _MIN_PIXEL_ROWS:
        return None
    size = min(_MAX_FONT_SIZE, int(height * 2 * 1.5))
    while size >= _MIN_PIXEL_ROWS:
        image = _draw(word, size)
        if image is None:
            return None
        if image.width <= width and (image.height + 1) // 2 <= height:
            if image.height < _MIN_PIXEL_ROWS:
                return None
            return _half_blocks(image)
        # Shrink in proportion to the overshoot, at least one step.
        ratio = min(width / image.width, height * 2 / image.height)
        size = min(size - 1, int(size * ratio))
    return None


class BigWord(Widget):
    """A word (or number) as big as the widget: drawn, boxed, or plain bold, whichever fits."""

    DEFAULT_CSS = """
    BigWord {
        width: 1fr;
        height: 3;
        text-align: center;
        text-style: bold;
    }
    """

    word: reactive[str] = reactive("")

    def render(self) -> Text:
        width, height = self.size
        rows: tuple[str, ...] | None = None
        if height >= 4:
            rows = drawn_rows(self.word.upper(), width, height)
        if rows is None and height >= 3:
            boxed = box_rows(self.word)
            if boxed is not None and len(boxed[0]) <= width:
                rows = boxed
        if rows is None:
            rows = (self.word.upper(),)
        # Centre vertically; each row is padded to the same width so the block centres as one.
        longest = max(len(row) for row in rows)
        lines = [row.ljust(longest) for row in rows]
        pad = max(0, (height - len(lines)) // 2)
        return Text("\n" * pad + "\n".join(lines))
