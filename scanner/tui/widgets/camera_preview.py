"""The live camera view: what the camera sees, small, with each detected code outlined, so staff can aim."""

from __future__ import annotations

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

# textual-image picks the terminal's best way to draw a picture when it is imported (Sixel, Kitty's
# graphics protocol, else half-block characters), which is why the app imports this module before
# it starts: once Textual owns the terminal it can no longer be asked.
try:
    from textual_image.renderable import Image as _Detected
    from textual_image.renderable import UnicodeImage
    from textual_image.widget import HalfcellImage
    from textual_image.widget import Image as _Best
except Exception as exc:  # whatever asking the terminal raised, the gate must still run
    # A terminal that reports a size of 0x0 (a pseudo-terminal nobody sized yet) makes textual-image
    # 0.12 divide by zero while it is imported. The preview is only an aid to aiming: the gate runs
    # without it, and says why where the picture would be.
    TerminalImage = None
    PREVIEW_PROBLEM: str | None = f"camera preview unavailable: the terminal could not be asked ({exc!r})"
else:
    # With no terminal to ask (headless, as in tests and screenshots) textual-image falls back to
    # grey shade characters, which would lose the green outline; coloured half blocks render anywhere.
    TerminalImage = HalfcellImage if _Detected is UnicodeImage else _Best
    PREVIEW_PROBLEM = None


class CameraPreview(Vertical):
    """A caption and the picture; ``show`` swaps the picture (called a few times a second)."""

    DEFAULT_CSS = """
    CameraPreview {
        height: auto;
        border-bottom: solid $panel-lighten-2;
    }
    CameraPreview > #preview-caption {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    CameraPreview > #preview-image {
        width: 1fr;
        height: 8;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("camera: waiting for a frame", id="preview-caption")
        if TerminalImage is None:
            yield Static(PREVIEW_PROBLEM or "", id="preview-problem")
        else:
            yield TerminalImage(id="preview-image")

    def show(self, picture: PILImage.Image, *, codes: int) -> None:
        if TerminalImage is not None:
            self.query_one("#preview-image", TerminalImage).image = picture
        caption = "camera: code in view" if codes else "camera: no code seen"  # fits the side panel
        self.query_one("#preview-caption", Static).update(caption)
