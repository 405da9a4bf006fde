"""Ticket codes drawn as QR codes (segno), and a buyer's tickets as SVG, PNG and PDF: both programs use it.

Pure: it computes images in memory, depends on ``segno``, ``pillow`` and ``ticketcode`` only, and
imports neither program, so the backend (buyers' tickets) and the scanner (test and demo images) draw
the same symbol.

Public names:
    make_symbol, symbol_text  (symbol)
    TicketFace, tickets_svg, tickets_png, tickets_pdf  (sheets)
"""

from __future__ import annotations

from ticketqr.sheets import TicketFace, tickets_pdf, tickets_png, tickets_svg
from ticketqr.symbol import make_symbol, symbol_text

__all__ = ["TicketFace", "make_symbol", "symbol_text", "tickets_pdf", "tickets_png", "tickets_svg"]
