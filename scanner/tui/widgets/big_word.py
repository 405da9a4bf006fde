"""A word drawn three rows high in box-drawing strokes, for verdicts readable from a metre away."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# Three rows per glyph, three columns each; the same stroke style as Textual's Digits.
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
    " ": ("  ", "  ", "  "),
}


def big_rows(word: str) -> tuple[str, str, str] | None:
    """The three rows of ``word`` in the big font, or None if a letter has no glyph."""
    rows: list[list[str]] = [[], [], []]
    for char in word.upper():
        glyph = _FONT.get(char)
        if glyph is None:
            return None
        for row, part in zip(rows, glyph, strict=True):
            row.append(part)
    joined = tuple(" ".join(row) for row in rows)
    return joined[0], joined[1], joined[2]


class BigWord(Widget):
    """The verdict word: big when it fits the width, plain bold capitals when it does not."""

    DEFAULT_CSS = """
    BigWord {
        width: 1fr;
        height: 3;
        text-align: center;
        text-style: bold;
    }
    """

    word: reactive[str] = reactive("", layout=True)

    def render(self) -> Text:
        rows = big_rows(self.word)
        if rows is not None and len(rows[0]) <= self.size.width:
            return Text("\n".join(rows))
        # Too narrow for the big font: centre the word on the middle row, still bold.
        return Text("\n" + self.word.upper())
