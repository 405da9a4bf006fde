"""Verify-and-record latency of ``Gate.check`` on a store of 1,000,000 tickets and 200,000 past scans.

Measures synchronous=FULL (the gate's durability promise) with HMAC codes and with Ed25519 codes
(the gate holding only the public key) against synchronous=OFF with HMAC codes (no fsync) as the
in-run baseline, rotating the three in rounds so that noise from other work on the machine hits all.

    .venv/bin/python bench/verify_bench.py [--scans N] [--rounds R] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.gate import Gate  # noqa: E402
from scanner.keystore import KeyStore  # noqa: E402
from scanner.store import MIGRATIONS, Store  # noqa: E402
from scanner.verdicts import screen  # noqa: E402
from ticketcode import SigningKey, derive_event_key, derive_signing_key, issue_code  # noqa: E402

EVENT = "BENCH1"
KEY = derive_event_key(b"benchmark-master-secret-32-bytes", EVENT, 1)
SIGNER = derive_signing_key(b"benchmark-master-secret-32-bytes", EVENT, 1, scheme="ed25519")
# (label, synchronous, scheme): the durable gate with each scheme, and the no-fsync HMAC baseline.
MODES = (("FULL hmac", "FULL", "hmac"), ("FULL ed25519", "FULL", "ed25519"), ("OFF hmac", "OFF", "hmac"))
TICKETS = 1_000_000
PAST_SCANS = 200_000
PAST_ADMITTED = 150_000  # serials 1..150,000 are inside; the other past scans are rejections
OUT = ROOT / "bench" / "out"
WIDTH = 7


def build_base(path: Path) -> None:
    """The big store, built once with executemany in single transactions (cached under bench/out/)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for stale in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        stale.unlink(missing_ok=True)
    Store.open(tmp).close()  # the real schema, migrated by the real code
    db = sqlite3.connect(tmp, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    started = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    at = started.isoformat(timespec="microseconds")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO tickets (event, serial, holder, revoked, revoked_reason, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            (EVENT, n, f"Holder {n}", int(n % 500 == 0), "refunded" if n % 500 == 0 else None, at)
            for n in range(1, TICKETS + 1)
        ),
    )
    db.executemany(
        "INSERT INTO presence (event, serial, first_admitted_at, first_admitted_gate, inside,"
        " last_moved_at, last_moved_gate, entries) VALUES (?, ?, ?, 'North', 1, ?, 'North', 1)",
        ((EVENT, n, at, at) for n in range(1, PAST_ADMITTED + 1)),
    )

    def past_scans():  # type: ignore[no-untyped-def]
        for i in range(PAST_SCANS):
            when = (started + timedelta(milliseconds=50 * i)).isoformat(timespec="microseconds")
            if i < PAST_ADMITTED:
                code = issue_code(KEY, i + 1, width=WIDTH)
                yield (when, "North", EVENT, "camera", "in", "ADMIT", "admitted", code, code, EVENT,
                       i + 1, 1, 1)  # fmt: skip
            else:
                yield (when, "North", EVENT, "camera", "in", "INVALID", "not a ticket code", "junk", None,
                       None, None, None, 1)  # fmt: skip

    db.executemany(
        "INSERT INTO scans (scanned_at, gate, gate_event, source, direction, verdict, reason, raw, code,"
        " event, serial, entry_no, synced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        past_scans(),  # type: ignore[no-untyped-call]
    )
    db.executemany(
        "INSERT INTO tallies (gate_event, name, n) VALUES (?, ?, ?)",
        [(EVENT, "admitted", PAST_ADMITTED), (EVENT, "inside", PAST_ADMITTED),
         (EVENT, "rejected", PAST_SCANS - PAST_ADMITTED)],
    )  # fmt: skip
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    tmp.rename(path)


def workload(count: int, rng: random.Random, key: SigningKey = KEY) -> list[str]:
    """Fresh tickets (admit), some second scans (already used), revoked ones and typos, shuffled."""
    fresh = rng.sample(range(PAST_ADMITTED + 1, TICKETS + 1), count)
    codes = [issue_code(key, n, width=WIDTH) for n in fresh]
    for i in range(0, count, 10):  # 10 %: a ticket already inside shows up again
        codes[i] = issue_code(key, rng.randrange(1, PAST_ADMITTED + 1), width=WIDTH)
    for i in range(5, count, 50):  # 2 %: a mistyped tag (a digit or letter each scheme's tag can hold)
        codes[i] = codes[i][:-1] + ("2" if codes[i][-1] != "2" else "3")
    return codes


def measure(gate: Gate, codes: list[str]) -> list[float]:
    latencies = []
    for code in codes:
        t0 = time.perf_counter_ns()
        gate.check(code, source="bench")
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
    return latencies


def fsync_probe(path: Path, count: int) -> list[float]:
    """The disk's own floor right now: rewrite one 4 KiB page in place and fdatasync it, ``count`` times."""
    latencies = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        page = os.urandom(4096)
        for _ in range(count):
            t0 = time.perf_counter_ns()
            os.pwrite(fd, page, 0)
            os.fdatasync(fd)
            latencies.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        os.close(fd)
    return latencies


def _pct(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(latencies: list[float], seconds: float) -> tuple[float, float, float, float, float]:
    """Scans per second, p50, p99, p99.9 and max latency (ms)."""
    ordered = sorted(latencies)
    return (
        len(latencies) / seconds,
        statistics.median(ordered),
        _pct(ordered, 0.99),
        _pct(ordered, 0.999),
        ordered[-1],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scans", type=int, default=4000, help="verifications per mode (default 4000)")
    parser.add_argument("--rounds", type=int, default=8, help="alternating FULL/OFF rounds (default 8)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached base store")
    args = parser.parse_args()

    # The cache is keyed by the schema's text, so a changed schema never reuses a stale base store.
    schema = hashlib.sha256("".join(MIGRATIONS).encode()).hexdigest()[:10]
    base = OUT / f"verify_base_{schema}_{TICKETS}_{PAST_SCANS}.sqlite3"
    if args.rebuild or not base.exists():
        for stale in OUT.glob("verify_base_*.sqlite3"):  # built for an older schema: 150+ MB each
            stale.unlink()
        t0 = time.perf_counter()
        build_base(base)
        print(f"built {base.name}: {TICKETS:,} tickets, {PAST_SCANS:,} past scans in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    size_mb = base.stat().st_size / 1e6

    rng = random.Random(20260601)
    # The same serials for every mode (a fresh copy of the store each), signed per the mode's scheme.
    state = rng.getstate()
    codes: dict[str, list[str]] = {}
    for label, _sync, scheme in MODES:
        rng.setstate(state)
        codes[label] = workload(args.scans, rng, SIGNER if scheme == "ed25519" else KEY)
    per_round = max(1, args.scans // args.rounds)
    results: dict[str, list[float]] = {label: [] for label, _s, _k in MODES}
    elapsed: dict[str, float] = dict.fromkeys(results, 0.0)
    with tempfile.TemporaryDirectory(dir=OUT) as work:
        gates: dict[str, Gate] = {}
        for label, sync, scheme in MODES:
            keys = KeyStore(Path(work) / f"keys-{scheme}")
            keys.add(SIGNER.public_key if scheme == "ed25519" else KEY)  # type: ignore[union-attr]
            copy = Path(work) / f"{label.replace(' ', '-')}.sqlite3"
            shutil.copyfile(base, copy)
            store = Store.open(copy, synchronous=sync)  # type: ignore[arg-type]
            gates[label] = Gate(store=store, keys=keys, event=EVENT, gate_name="Bench")
        probe: list[float] = []
        labels = [label for label, _s, _k in MODES]
        for r in range(args.rounds):
            for label in labels[r % 3 :] + labels[: r % 3]:
                chunk = codes[label][r * per_round : (r + 1) * per_round]
                t0 = time.perf_counter()
                results[label] += measure(gates[label], chunk)
                elapsed[label] += time.perf_counter() - t0
            probe += fsync_probe(Path(work) / "probe.bin", max(1, per_round // 5))
        durability = {label: gate.store.durability for label, gate in gates.items()}
        for gate in gates.values():
            gate.close()

    print(f"store: {TICKETS:,} known tickets, {PAST_SCANS:,} past scans ({size_mb:.0f} MB), WAL")
    print(f"workload: fresh tickets + 10 % already used + 2 % mistyped, {args.rounds} rotating rounds")
    print(f"{'mode':<32} {'scans':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8}")
    stats = {}
    for label, sync, _scheme in MODES:
        stats[label] = rate, p50, p99, p999, worst = summary(results[label], elapsed[label])
        shown = f"synchronous={sync} {_scheme}" + (" (baseline)" if sync == "OFF" else "")
        assert durability[label] == ("wal", sync), durability
        print(f"{shown:<32} {len(results[label]):>6} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {p999:>9.2f} "
              f"{worst:>8.2f}")  # fmt: skip
    _rate, p50, p99, p999, worst = summary(probe, 1.0)
    print(f"{'disk: 4 KiB + fdatasync':<32} {len(probe):>6} {'':>8} {p50:>8.2f} {p99:>8.2f} {p999:>9.2f} "
          f"{worst:>8.2f}   (the floor any durable commit pays)")  # fmt: skip
    # The signature check alone (parse + verify, no store), the part the scheme changes: CPU time, so
    # it stays steady when the disk or other jobs make the end-to-end figures swing.
    checks = {}
    for label, _sync, scheme in MODES[:2]:
        held = [SIGNER.public_key if scheme == "ed25519" else KEY]  # type: ignore[union-attr]
        t0 = time.process_time()
        for code in codes[label]:
            screen(code, gate_event=EVENT, keys=held)
        checks[scheme] = (time.process_time() - t0) / len(codes[label]) * 1e6
    print(
        f"signature check alone (CPU per scan): hmac {checks['hmac']:.0f} us, ed25519"
        f" {checks['ed25519']:.0f} us (x{checks['ed25519'] / checks['hmac']:.1f})"
    )
    full, ed, off = stats["FULL hmac"], stats["FULL ed25519"], stats["OFF hmac"]
    print(f"ratio FULL/OFF (hmac): p50 x{full[1] / off[1]:.1f}, p99 x{full[2] / off[2]:.1f}, "
          f"throughput x{full[0] / off[0]:.2f}")  # fmt: skip
    print(f"ratio ed25519/hmac (FULL): p50 x{ed[1] / full[1]:.2f}, p99 x{ed[2] / full[2]:.2f}, "
          f"throughput x{ed[0] / full[0]:.2f}")  # fmt: skip
    for label, figures in (("hmac", full), ("ed25519", ed)):
        verdict = "met" if figures[2] < 5.0 else "NOT met"
        print(f"aim p99 < 5 ms with synchronous=FULL, {label}: {verdict} ({figures[2]:.2f} ms)")
    print(f"reproduce: .venv/bin/python bench/verify_bench.py --scans {args.scans} --rounds {args.rounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
