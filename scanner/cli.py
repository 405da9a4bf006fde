"""The scanner's subcommands: argument definitions only; each names its handler as ``module:function``."""

from __future__ import annotations

import argparse
from typing import Any


def _home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="the scanner's data folder (default: $TICKETGATE_HOME)")


def _camera_controls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--camera-size", metavar="WxH", help="frame size to ask the camera for (default 1280x720)"
    )
    parser.add_argument("--exposure", help="manual exposure in the driver's units, or auto (default)")
    parser.add_argument("--focus", help="manual focus in the driver's units, or auto (default)")


def register(commands: Any, key_commands: Any, ticket_commands: Any) -> None:
    """Add the scanner's subcommands to the ``ticketgate`` parser."""
    p = key_commands.add_parser("import", help="import an event key file onto this gate laptop")
    _home(p)
    p.add_argument("file", help="the key file written by `ticketgate keys export`")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace a different key already held for the same event and version (tickets it "
        "signed become INVALID; default: refuse)",
    )
    p.set_defaults(handler="scanner.commands:keys_import")

    p = key_commands.add_parser(
        "list",
        help="list key versions: scheme, retired or not, fingerprint (this gate's, or with --backend the"
        " backend's)",
    )
    _home(p)
    p.add_argument(
        "--backend",
        action="store_true",
        help="list the backend's key versions of --event instead of this gate's keys (default: the gate's)",
    )
    p.add_argument("--event", help="with --backend: the event whose key versions to list")
    p.add_argument(
        "--database-url",
        help="with --backend: PostgreSQL URL (default: $TICKETGATE_DATABASE_URL; else the embedded server)",
    )
    # Either side's handler, chosen when it runs: the scanner's never imports the backend.
    p.set_defaults(handler="ticketgate.keys_list:run")

    p = key_commands.add_parser(
        "protect",
        help="seal this gate's key files with a passphrase (scrypt + AES-GCM); the gate app then asks for"
        " it at start (default: key files are plain, mode 0600)",
    )
    _home(p)
    p.set_defaults(handler="scanner.commands:keys_protect")

    p = commands.add_parser(
        "verify", help="verify codes offline; exit 0 only if all are admitted, 2 if none was given"
    )
    _home(p)
    p.add_argument("codes", nargs="+", metavar="CODE", help="a ticket code; - reads codes from stdin")
    p.add_argument("--event", help="the gate's event (default: the single event whose key is held)")
    p.add_argument("--gate", help="gate name recorded with each scan")
    p.add_argument("--exit", dest="exit_mode", action="store_true", help="record exits instead of entries")
    p.set_defaults(handler="scanner.commands:verify")

    p = ticket_commands.add_parser(
        "import", help="import known tickets / revocations from a JSON or CSV file (on a gate laptop)"
    )
    _home(p)
    p.add_argument("file", help="a .json or .csv file of tickets (see the README's tickets import section)")
    p.set_defaults(handler="scanner.commands:tickets_import")

    p = commands.add_parser("decode", help="print the QR text(s) found in each image")
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="an image file OpenCV can read (PNG, JPEG, ...)"
    )
    p.set_defaults(handler="scanner.decode:decode_command")

    p = commands.add_parser("scan", help="the gate app (terminal UI)")
    _home(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", help="camera index or device path (e.g. 0 or /dev/video0)")
    src.add_argument("--source", help="a video file or a folder of images instead of a camera")
    p.add_argument("--event", help="the gate's event")
    p.add_argument("--gate", help="gate name")
    p.add_argument(
        "--no-sound", action="store_true", help="no bell for verdicts (default: the saved setting)"
    )
    _camera_controls(p)
    p.add_argument("--preview", choices=["on", "off", "auto"], help="the live camera view (default: setting)")
    p.set_defaults(handler="scanner.tui.launch:scan")

    p = commands.add_parser("camera", help="check the gate's camera")
    camera_commands = p.add_subparsers(dest="camera_command", metavar="CAMERA_COMMAND", required=True)
    p = camera_commands.add_parser("test", help="real resolution, frame rate and decode rate of the camera")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", help="camera index or device path (default 0)")
    src.add_argument("--source", help="a video file or a folder of images instead of a camera")
    _camera_controls(p)
    p.add_argument("--seconds", type=float, default=5.0, help="how long to watch (default 5)")
    p.set_defaults(handler="scanner.camera_test:camera_test")

    p = commands.add_parser(
        "pair", help="pair this gate laptop with the backend, then pull the event's keys and tickets"
    )
    _home(p)
    p.add_argument(
        "pairing", metavar="PAIRING", help="the pairing text ticketgate-pair:1:CODE:URL, or the code"
    )
    p.add_argument("--server", help="backend URL (wins over the one in the pairing text)")
    p.set_defaults(handler="scanner.sync.commands:pair")

    p = commands.add_parser(
        "sync", help="one sync round now: push scans, pull tickets; exit 0 done, 1 try later, 2 act"
    )
    _home(p)
    p.add_argument("--json", action="store_true", help="print the round's report as JSON")
    p.set_defaults(handler="scanner.sync.commands:sync")
