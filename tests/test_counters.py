"""The process-wide remote-call counter: totals, per-thread measurements, bad kinds."""

from __future__ import annotations

import threading

import pytest

from tethys_compute.counters import RemoteCallCounter


def test_measure_sees_calls_of_every_thread_and_measure_thread_only_its_own() -> None:
    counter = RemoteCallCounter()
    started = threading.Event()
    go_on = threading.Event()

    def other() -> None:
        started.wait(5)
        counter.add("ssh", "u@b:22", "commands", 5)
        go_on.set()

    thread = threading.Thread(target=other)
    thread.start()
    with counter.measure() as everything, counter.measure_thread() as mine:
        counter.add("ssh", "u@a:22", "commands")
        counter.add("dask", "tcp://a:8786", "connections")
        started.set()
        assert go_on.wait(5)
    thread.join(5)
    assert not thread.is_alive()
    assert everything.commands() == 6 and everything.commands("ssh", "u@b:22") == 5
    assert mine.commands() == 1 and mine.commands("ssh", "u@a:22") == 1
    assert mine.connections("dask") == 1 and mine.connections("ssh") == 0
    assert mine.targets() == {"u@a:22", "tcp://a:8786"}


def test_an_unknown_kind_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="commands, transfers, connections"):
        RemoteCallCounter().add("ssh", "u@a:22", "packets")
