"""The request coalescer: batching discipline, per-request results and failures, keys, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from backend.coalescing import Coalescer


class Recorder:
    """A batch function that doubles numbers, fails on negatives, and records every batch it got."""

    def __init__(self, *, delay: float = 0.01) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.delay = delay
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}

    async def __call__(self, key: str, requests: Sequence[int]) -> list[int | BaseException]:
        self.batches.append((key, list(requests)))
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.max_in_flight[key] = max(self.max_in_flight.get(key, 0), self.in_flight[key])
        await asyncio.sleep(self.delay)
        self.in_flight[key] -= 1
        return [ValueError(f"negative {n}") if n < 0 else n * 2 for n in requests]


def test_a_lone_request_goes_at_once_as_a_batch_of_one() -> None:
    async def scenario() -> int:
        return await Coalescer(Recorder()).submit("EV", 21)

    assert asyncio.run(scenario()) == 42


def test_requests_arriving_while_a_batch_runs_share_the_next_batch() -> None:
    recorder = Recorder()

    async def scenario() -> list[int]:
        coalescer: Coalescer[str, int, int] = Coalescer(recorder)
        first = asyncio.create_task(coalescer.submit("EV", 0))
        await asyncio.sleep(0)  # the first batch is now in flight
        rest = [asyncio.create_task(coalescer.submit("EV", n)) for n in range(1, 10)]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(scenario()) == [n * 2 for n in range(10)]
    assert recorder.batches == [("EV", [0]), ("EV", list(range(1, 10)))]
    assert recorder.max_in_flight == {"EV": 1}


def test_batches_never_exceed_max_batch_and_keep_arrival_order() -> None:
    recorder = Recorder()

    async def scenario() -> list[int]:
        coalescer: Coalescer[str, int, int] = Coalescer(recorder, max_batch=4)
        return await asyncio.gather(*(coalescer.submit("EV", n) for n in range(11)))

    assert asyncio.run(scenario()) == [n * 2 for n in range(11)]
    sizes = [len(batch) for _, batch in recorder.batches]
    assert max(sizes) <= 4 and sum(sizes) == 11
    assert [n for _, batch in recorder.batches for n in batch] == list(range(11))


def test_a_failure_of_one_request_reaches_only_that_request() -> None:
    async def scenario() -> list[int | BaseException]:
        coalescer: Coalescer[str, int, int] = Coalescer(Recorder())
        return await asyncio.gather(*(coalescer.submit("EV", n) for n in (1, -2, 3)), return_exceptions=True)

    first, failed, third = asyncio.run(scenario())
    assert (first, third) == (2, 6)
    assert isinstance(failed, ValueError) and "negative -2" in str(failed)


def test_a_failing_batch_fails_every_request_in_it_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def flaky(key: str, requests: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 2:
            raise ConnectionError("database went away")
        return list(requests)

    async def scenario() -> list[int | BaseException]:
        coalescer: Coalescer[str, int, int] = Coalescer(flaky)
        first = asyncio.create_task(coalescer.submit("EV", 1))
        await asyncio.sleep(0)
        second = [asyncio.create_task(coalescer.submit("EV", n)) for n in (2, 3)]
        await asyncio.sleep(0.05)
        third = await coalescer.submit("EV", 4)
        return [*(await asyncio.gather(first, *second, return_exceptions=True)), third]

    one, two, three, four = asyncio.run(scenario())
    assert one == 1 and four == 4
    assert isinstance(two, ConnectionError) and isinstance(three, ConnectionError)


def test_a_batch_returning_the_wrong_number_of_results_is_an_error_for_all() -> None:
    async def short(key: str, requests: Sequence[int]) -> list[int | BaseException]:
        return list(requests)[:-1]

    async def scenario() -> list[int | BaseException]:
        coalescer: Coalescer[str, int, int] = Coalescer(short)
        return await asyncio.gather(*(coalescer.submit("EV", n) for n in range(3)), return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(scenario()))


def test_different_keys_are_batched_apart_and_run_concurrently() -> None:
    recorder = Recorder(delay=0.05)

    async def scenario() -> float:
        coalescer: Coalescer[str, int, int] = Coalescer(recorder)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(coalescer.submit(key, 1) for key in ("A", "B", "C", "D")))
        return loop.time() - started

    elapsed = asyncio.run(scenario())
    assert sorted(key for key, _ in recorder.batches) == ["A", "B", "C", "D"]
    assert elapsed < 0.15  # four 50 ms batches side by side, not one after another


def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    recorder = Recorder(delay=0.02)

    async def scenario() -> list[int]:
        coalescer: Coalescer[str, int, int] = Coalescer(recorder)
        first = asyncio.create_task(coalescer.submit("EV", 1))
        await asyncio.sleep(0)
        leaving = asyncio.create_task(coalescer.submit("EV", 2))
        staying = asyncio.create_task(coalescer.submit("EV", 3))
        await asyncio.sleep(0)
        leaving.cancel()
        return await asyncio.gather(first, staying)

    assert asyncio.run(scenario()) == [2, 6]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Recorder(), max_batch=0)
