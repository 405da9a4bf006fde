"""The mutation score of each module `make mutants` covers, from mutmut's results in mutants/.

Run by `make mutants` after `mutmut run`; prints one Markdown table row per module (the README's
"Mutation testing" table) and lists the surviving mutants, each to be killed by a test or explained
in docs/mutants.md. Not a test: its name does not start with test_.

    .venv/bin/python tests/mutation_scores.py [--survivors]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# mutmut's exit codes (mutmut/stats.py): what each says about a mutant.
KILLED = {1, 3, 24, -24, 36, 152, 255, 37}  # a test failed, or it timed out, or the type check caught it
SURVIVED = {0}
NO_TESTS = {5, 33}


def results() -> dict[str, dict[str, int | None]]:
    """Exit code per mutant, by module path, from every ``*.py.meta`` file under mutants/."""
    found = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        found[module] = json.loads(meta.read_text())["exit_code_by_key"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--survivors", action="store_true", help="list every surviving mutant's name")
    args = parser.parse_args()
    by_module = results()
    if not by_module:
        raise SystemExit("no results in mutants/: run `make mutants` first")
    print("| module | mutants | killed | survived | no test reaches | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    totals: Counter[str] = Counter()
    for module, codes in by_module.items():
        count = Counter(
            "killed" if c in KILLED else "survived" if c in SURVIVED else "no_tests" if c in NO_TESTS
            else "unchecked"
            for c in codes.values()
        )  # fmt: skip
        totals.update(count)
        totals["mutants"] += len(codes)
        checked = count["killed"] + count["survived"] + count["no_tests"]
        score = f"{100 * count['killed'] / checked:.1f} %" if checked else "-"
        unchecked = f" ({count['unchecked']} not run yet)" if count["unchecked"] else ""
        print(
            f"| `{module}` | {len(codes)}{unchecked} | {count['killed']} | {count['survived']} "
            f"| {count['no_tests']} | {score} |"
        )
    checked = totals["killed"] + totals["survived"] + totals["no_tests"]
    print(
        f"| **all** | {totals['mutants']} | {totals['killed']} | {totals['survived']} | {totals['no_tests']} "
        f"| {100 * totals['killed'] / max(checked, 1):.1f} % |"
    )
    if args.survivors:
        for codes in by_module.values():
            for name, code in sorted(codes.items()):
                if code in SURVIVED or code in NO_TESTS:
                    print(name)


if __name__ == "__main__":
    main()
