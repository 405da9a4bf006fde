"""Confirm by hand that tests kill surviving mutants, without a mutmut run.

For each mutant name, read its diff with ``mutmut show`` (in the checkout that holds the mutmut results,
read only), write the mutated function into this tree's source file, run the given tests, and put the
file back as it was. A mutant is *killed* when pytest fails (exit 1), *survived* when it passes; any
other exit (a collection error, an interrupted run) is printed as it is. Not a test: its name does
not start with test_. docs/mutants.md records what this confirmed.

    .venv/bin/python tests/confirm_kills.py --results PATH/TO/CHECKOUT/WITH/MUTANTS \\
        --tests tests/unit/test_webhooks.py -- backend.webhooks.x__text__mutmut_3 ...
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def mutant_diff(results: Path, name: str) -> tuple[Path, list[str]]:
    """The source file and the diff lines (function-relative hunks) of one mutant."""
    shown = subprocess.run(
        [str(results / ".venv/bin/mutmut"), "show", name],
        cwd=results, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    start = next(i for i, line in enumerate(shown) if line.startswith("--- "))
    return ROOT / shown[start][4:].strip(), shown[start + 2 :]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def apply(source: str, name: str, diff: list[str]) -> str:
    """``source`` with the mutant's hunks applied: mutmut numbers lines from the function's ``def``."""
    function = name.rsplit(".", 1)[1].split("__mutmut_")[0].removeprefix("x_")
    function = function.split("ǁ")[-1]  # a method: xǁClassǁmethod
    lines = source.splitlines(keepends=True)
    def_line = next(
        i for i, line in enumerate(lines)
        if re.match(rf"\s*(async\s+)?def {re.escape(function)}\(", line)
    )  # fmt: skip
    # A method's diff is shown dedented (but not the lines inside its strings): lines are matched
    # without their indentation, and an added line takes the indentation of the line it replaces.
    out = list(lines)
    offset = 0
    hunk_at = 0
    shift = 0  # source indentation minus diff indentation, from the last line matched
    for number, line in enumerate(diff):
        match = _HUNK.match(line)
        if match:
            hunk_at = def_line + int(match.group(1)) - 1 + offset
            # mutmut counts a decorated method's lines its own way: find the hunk's first line
            # nearby by its text (its first line that is not blank: a blank one matches anywhere).
            old_lines = [d[1:].strip() for d in diff[number + 1 :] if d[:1] in " -"]
            k, first = next(((k, t) for k, t in enumerate(old_lines) if t), (0, None))
            near = sorted(
                range(max(0, hunk_at + k - 10), min(len(out), hunk_at + k + 11)),
                key=lambda i: abs(i - hunk_at - k),
            )
            hunk_at = next((i - k for i in near if out[i].strip() == first), hunk_at)
            continue
        text = line[1:]
        if line.startswith((" ", "-")):
            source_line = out[hunk_at].rstrip("\n")
            assert source_line.strip() == text.strip(), (out[hunk_at], text)
            shift = _indent(source_line) - _indent(text)
            if line.startswith(" "):
                hunk_at += 1
            else:
                del out[hunk_at]
                offset -= 1
        elif line.startswith("+"):
            out.insert(hunk_at, " " * max(0, _indent(text) + shift) + text.lstrip() + "\n")
            hunk_at += 1
            offset += 1
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--results", type=Path, required=True, help="the checkout holding mutants/ (no default)"
    )
    parser.add_argument("--tests", action="append", required=True, help="pytest arguments (repeatable)")
    parser.add_argument("names", nargs="+", help="mutant names, as `mutmut results` prints them")
    args = parser.parse_args()
    for name in args.names:
        path, diff = mutant_diff(args.results, name)
        original = path.read_text()
        try:
            mutated = apply(original, name, diff)
        except AssertionError:  # the function changed since the run: its diff no longer applies
            print(f"{'stale':9} {name} (the function changed since the mutmut run)", flush=True)
            continue
        try:
            path.write_text(mutated)
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.tests],
                cwd=ROOT, capture_output=True, text=True, errors="replace",
            )  # fmt: skip
        finally:
            path.write_text(original)
        verdict = {0: "SURVIVED", 1: "killed"}.get(run.returncode, f"exit {run.returncode}")
        failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")][:1]
        print(f"{verdict:9} {name} {' '.join(failed)}", flush=True)


if __name__ == "__main__":
    main()
