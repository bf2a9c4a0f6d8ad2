"""Fixtures shared by the test modules."""
from __future__ import annotations

import pytest

import fastnet as fn


@pytest.fixture
def one_thread():
    """fastnet at one thread for the test (bit-identical results), restored afterwards."""
    before = fn.get_num_threads()
    fn.set_num_threads(1)
    yield
    fn.set_num_threads(before)
