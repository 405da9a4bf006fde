"""When the gate app syncs next, the interval setting, and the pull's progress bar on a terminal."""

from __future__ import annotations

import io

import pytest

from scanner.errors import GateConfigError
from scanner.sync.progress import LARGE_PULL, pull_progress
from scanner.sync.schedule import INTERVAL_ENV, SyncSchedule, interval_from_env


def test_online_rounds_come_every_interval_and_offline_ones_back_off_to_two_minutes() -> None:
    schedule = SyncSchedule(interval_s=10)
    assert schedule.next_delay("online") == 10
    assert [schedule.next_delay("offline") for _ in range(6)] == [20, 40, 80, 120, 120, 120]
    assert schedule.next_delay("online") == 10  # the server answered: back to the interval at once
    assert schedule.next_delay("offline") == 20
    assert schedule.next_delay("refused") == 120
    assert SyncSchedule(interval_s=300).next_delay("offline") == 300  # never sooner than the interval


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 10.0), ("", 10.0), ("1", 1.0), ("2.5", 2.5), ("3600", 3600.0)]
)
def test_the_interval_comes_from_its_variable(value: str | None, expected: float) -> None:
    assert interval_from_env({} if value is None else {INTERVAL_ENV: value}) == expected


@pytest.mark.parametrize("value", ["0", "0.5", "3601", "ten", "nan", "inf", "-5"])
def test_an_interval_out_of_range_is_one_clear_error_naming_the_variable(value: str) -> None:
    with pytest.raises(GateConfigError, match=INTERVAL_ENV):
        interval_from_env({INTERVAL_ENV: value})


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_for_a_large_pull_only() -> None:
    with pull_progress(io.StringIO()) as update:
        assert update is None  # not a terminal: quiet
    small = Terminal()
    with pull_progress(small) as update:
        assert update is not None
        update(100, 200)
    assert small.getvalue() == ""
    large = Terminal()
    with pull_progress(large) as update:
        assert update is not None
        update(5_000, LARGE_PULL * 2)
        update(LARGE_PULL * 2 + 5_000, 0)
    assert "pulling" in large.getvalue()
