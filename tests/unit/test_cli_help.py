"""The ``ticketgate`` argument tree: every option says what it does and, where it has one, its default."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

from ticketgate.cli import build_parser


def _parsers(
    parser: argparse.ArgumentParser, path: str = "ticketgate"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def _options() -> Iterator[tuple[str, argparse.Action]]:
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action


OPTIONS = dict(_options())


def test_the_tree_is_walked() -> None:
    assert "ticketgate server --port" in OPTIONS and "ticketgate scan --no-sound" in OPTIONS


def test_every_command_says_what_it_does_in_its_own_help() -> None:
    unsaid = [path for path, parser in _parsers(build_parser()) if not parser.description]
    assert unsaid == []
    verify = subprocess.run(
        [sys.executable, "-m", "ticketgate", "verify", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "verify codes offline; exit 0 only if all are admitted, 2 if none was given" in verify


def test_every_option_and_argument_says_what_it_does() -> None:
    unsaid = [name for name, action in OPTIONS.items() if not action.help or len(action.help) < 8]
    assert unsaid == []


def _shown(default: object) -> str:
    return f"{default:g}" if isinstance(default, float) else str(default)


def test_every_option_with_a_default_names_it() -> None:
    unsaid = [
        f"{name} (default {action.default!r})"
        for name, action in OPTIONS.items()
        if action.option_strings
        and action.default not in (None, False, argparse.SUPPRESS)
        and not action.required
        and not ("default" in (action.help or "") and _shown(action.default) in (action.help or ""))
    ]
    assert unsaid == []


def test_version_prints_the_installed_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ticketgate", "--version"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, f"ticketgate {version('ticketgate')}\n")


def test_a_usage_error_shows_a_byte_that_is_not_utf8_as_bash_writes_it() -> None:
    for args, said in [
        (
            ["event", "create", "--code", "ABCD", "--name", "x", "--capacity", "\udcff"],
            "invalid int value: '\\xff'",
        ),
        (["\udcff"], "invalid choice: '\\xff'"),
    ]:
        done = subprocess.run([sys.executable, "-m", "ticketgate", *args], capture_output=True, text=True)
        assert done.returncode == 2 and done.stdout == ""
        assert said in done.stderr.splitlines()[-1], done.stderr
