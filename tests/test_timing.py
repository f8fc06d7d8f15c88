"""mtl_lib.timing: the functions take turns, warm up untimed, and the fastest run is reported."""

import time

import pytest
import torch

from mtl_lib.timing import fastest_seconds, synchronize


def test_synchronize_accepts_a_cpu_device_or_its_name():
    synchronize("cpu")
    synchronize(torch.device("cpu"))


def test_fastest_seconds_warms_up_then_rotates_and_keeps_the_minimum():
    calls = []
    delays = {"a": iter([0.0, 0.06, 0.01, 0.04]), "b": iter([0.0, 0.0, 0.0, 0.0])}

    def make(name):
        def fn():
            calls.append(name)
            time.sleep(next(delays[name]))  # the first value is the warm-up run
        return fn

    best = fastest_seconds({"a": make("a"), "b": make("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then a first, b first, a first
    assert set(best) == {"a", "b"}
    assert 0.01 <= best["a"] < 0.04  # the fastest of 0.06, 0.01 and 0.04 s
    assert best["b"] < best["a"]


def test_fastest_seconds_sets_and_restores_the_cpu_thread_count():
    before = torch.get_num_threads()
    seen = []
    fastest_seconds({"f": lambda: seen.append(torch.get_num_threads())}, repeats=2, warmup=0, threads=1)
    assert seen == [1, 1]
    assert torch.get_num_threads() == before


def test_fastest_seconds_restores_the_thread_count_when_a_function_fails():
    before = torch.get_num_threads()

    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fastest_seconds({"f": fails}, threads=1)
    assert torch.get_num_threads() == before


def test_fastest_seconds_needs_at_least_one_timed_run():
    with pytest.raises(ValueError, match="repeats"):
        fastest_seconds({"f": lambda: None}, repeats=0)
