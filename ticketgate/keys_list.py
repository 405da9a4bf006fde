"""``ticketgate keys list``: the gate's held keys, or with ``--backend`` the backend's key versions."""

from __future__ import annotations

import argparse
import importlib


def run(args: argparse.Namespace) -> int:
    """Hand over to the side asked for; only that side's modules are imported."""
    module = "backend.commands" if args.backend else "scanner.commands"
    result: int = importlib.import_module(module).keys_list(args)
    return result
