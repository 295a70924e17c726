"""Stage CPU timers (photcat.timing): off by default, nested stages counted once."""

from __future__ import annotations

import time

from photcat.timing import STAGES, record, stage


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_nested_stages_count_once_in_the_inner_one():
    with record() as times:
        with stage("write"):
            _burn(0.05)
            with stage("encode"):
                _burn(0.15)
        with stage("pdf"):
            _burn(0.05)
    assert set(STAGES) <= set(times)
    assert 0.15 <= times["encode"] < 0.3
    assert 0.05 <= times["write"] < 0.12  # the inner 0.15 s is not counted again
    assert 0.05 <= times["pdf"] < 0.12
    assert times["read"] == 0.0


def test_stages_cost_nothing_outside_a_recording():
    with stage("write"):
        _burn(0.01)
    with record() as times:
        pass
    assert sum(times.values()) == 0.0
