"""Every command, fed what a careless or hostile user could give it: a clear line and exit status,
never a traceback, and nothing printed that acts on the terminal.

Real processes, as a user runs them: argument bytes that are not UTF-8, standard input that is not
text or never ends, a terminal that cannot show the text, devices and folders where files belong,
numbers far out of range.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from ticketcode import derive_event_key, issue_code

KEY = derive_event_key(b"any-input-test-master-secret-32b", "ANYIN1", 1)
DATA = Path(__file__).resolve().parents[1] / "data" / "qr-bench"
CREATE = ["event", "create", "--code"]


def run(
    *args: str | bytes,
    home: Path,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    stdin_file: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    environ.update({"TICKETGATE_HOME": str(home), **(env or {})})
    with (stdin_file or Path(os.devnull)).open("rb") as source:
        return subprocess.run(
            [
                sys.executable.encode(),
                b"-m",
                b"ticketgate",
                *(a if isinstance(a, bytes) else a.encode() for a in args),
            ],
            input=stdin,
            stdin=None if stdin is not None else source,
            env=environ,
            capture_output=True,
            timeout=60,
        )


def assert_clean(result: subprocess.CompletedProcess[bytes], *, status: int, error: str | None = None) -> str:
    """Exit ``status``; no traceback; no escape sequence in the output; at most one error line,
    holding ``error``. Returns standard output as text."""
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    for stream in (result.stdout, result.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream and b"\r" not in stream
    if error is not None:
        lines = result.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ticketgate: error: "), lines
        assert error in lines[0], lines[0]
    return result.stdout.decode("utf-8", "backslashreplace")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    KeyStore(keys_dir(home)).add(KEY)
    return home


def test_argument_bytes_that_are_not_utf8_are_an_invalid_scan(home: Path) -> None:
    out = assert_clean(run("verify", b"\xff\xfe\x1b[2J", issue_code(KEY, 1).encode(), home=home), status=1)
    assert out.startswith("INVALID") and "\nADMIT" in out


@pytest.mark.parametrize("encoding", ["utf-8:strict", "latin-1"])
def test_standard_input_that_is_not_text_is_an_invalid_scan_in_any_locale(home: Path, encoding: str) -> None:
    # Under a UTF-8 locale Python reads standard input strictly: bytes like these were a traceback.
    stdin = b"\xff\xfe\x00\n\x1b]0;title\x07\n" + issue_code(KEY, 2).encode() + b"\n"
    out = assert_clean(
        run("verify", "-", home=home, stdin=stdin, env={"PYTHONIOENCODING": encoding}), status=1
    )
    assert [line.split()[0] for line in out.splitlines()] == ["INVALID", "INVALID", "ADMIT"]


def test_standard_input_that_never_ends_a_line_stops_with_a_clear_error(home: Path) -> None:
    # `verify - < /dev/zero` read one endless line until memory ran out.
    result = run("verify", "-", home=home, stdin_file=Path("/dev/zero"))
    assert_clean(result, status=2, error="a line over 4096 characters is not a ticket code")


@pytest.mark.parametrize("stdin", [b"", b"\n  \n\t\n"])
def test_standard_input_with_no_code_is_an_error_not_a_pass(home: Path, stdin: bytes) -> None:
    # `verify - < empty-list` printed nothing and exited 0, "all admitted", to a script checking it.
    result = run("verify", "-", home=home, stdin=stdin)
    assert_clean(result, status=2, error="standard input held no ticket code")
    assert result.stdout == b""


def test_a_terminal_that_cannot_show_the_text_gets_escapes_not_a_traceback(home: Path) -> None:
    result = run("decode", str(DATA / "qrcode-2/30.png"), home=home, env={"PYTHONIOENCODING": "latin-1"})
    assert assert_clean(result, status=0) == "MECARD:N:\\u6e2c\\u8a66;;\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["verify", "--gate", "Gate \x1b[2J", "x"], "the gate name must be printable text"),
        (["verify", "--gate", "x" * 41, "x"], "the gate name must be 1 to 40 characters"),
        (["verify", "--event", "ANYIN1\x1b[2J", "x"], "is not an event code"),
        ([b"verify", b"--event", b"\xff\xfe", b"x"], "is not an event code"),
        (["keys", "import", "/dev/zero"], "too large to be a key file"),
        (["keys", "import", "/"], "is a folder, not a key file"),
        ([b"keys", b"import", b"/nonexistent/\xff\x1b[2J.json"], "no such file"),
        (["tickets", "import", "/dev/zero"], "not a regular file"),
        (["tickets", "import", "/"], "is a folder"),
        (["decode", "/dev/zero"], "not a file"),
    ],
)
def test_bad_arguments_to_the_gate_commands_are_one_clear_line(
    home: Path, args: list[str | bytes], error: str
) -> None:
    assert_clean(run(*args, home=home), status=2, error=error)


def test_a_data_folder_that_is_a_file_or_a_store_that_is_a_device_is_one_clear_line(
    home: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    assert_clean(run("verify", "--event", "ANYIN1", "x", home=a_file), status=2, error="cannot")
    store = store_path(home)
    store.parent.mkdir(parents=True)
    store.symlink_to("/dev/zero")
    assert_clean(run("verify", "x", home=home), status=2, error="is not a regular file")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["event", "create", "--code", "BIGCAP", "--name", "N", "--capacity", "1" + "0" * 30],
            "capacity must be",
        ),
        (
            ["event", "create", "--code", "NEGPR1", "--name", "N", "--capacity", "5", "--price-cents", "-1"],
            "price_cents",
        ),
        (
            ["event", "create", "--code", "CUR1", "--name", "N", "--capacity", "5", "--currency", "€€€"],
            "currency",
        ),
        (
            [b"event", b"create", b"--code", b"NAME1", b"--name", b"\xff\xfe", b"--capacity", b"5"],
            "event name",
        ),
        (["event", "create", "--code", "\u0661\u0662\u0663\u0664", "--name", "N", "--capacity", "5"], "code"),
        (["keys", "export", "--event", "NOSUCH1", "--version", "1" + "0" * 30], "no event"),
        (["server", "--port", "1" + "0" * 30], "--port must be between 1 and 65535"),
        (["server", "--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_arguments_to_the_backend_commands_are_one_clear_line(
    database_url: str, tmp_path: Path, args: list[str | bytes], error: str
) -> None:
    env = {
        "TICKETGATE_DATABASE_URL": database_url,
        "TICKETGATE_MASTER_SECRET": "any-input-master-secret-0123456789",
        "TICKETGATE_WEBHOOK_SECRET": "whsec_any_input",
        "TICKETGATE_ADMIN_TOKEN": "any-input-admin-token-0123",
    }
    assert_clean(run(*args, home=tmp_path, env=env), status=2, error=error)
