"""Unit-test session setup: the long fuzzing mode of ``make fuzz``.

The hypothesis tests carry example counts sized for ``make test``.  With
``PYVSWITCH_FUZZ_SCALE=N`` in the environment (``make fuzz`` sets it) every hypothesis
test runs N times as many examples without the per-test time limit, and draws fresh
random data instead of replaying the example database; without it nothing changes.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

_SCALE = int(os.environ.get("PYVSWITCH_FUZZ_SCALE", "0") or 0)


def pytest_collection_modifyitems(config, items):
    if _SCALE <= 1:
        return
    for item in items:
        test = getattr(item, "obj", None)
        inner = getattr(test, "hypothesis", None)
        if inner is None:
            continue
        item.add_marker(pytest.mark.timeout(0))    # the long run is the point here
        current = getattr(test, "_hypothesis_internal_use_settings", settings.default)
        test._hypothesis_internal_use_settings = settings(
            current, max_examples=current.max_examples * _SCALE, database=None,
            deadline=None)


@pytest.fixture(scope="session", autouse=True)
def _announce_fuzz_scale():
    if _SCALE > 1:
        print(f"\nfuzzing: hypothesis examples x{_SCALE}")
    yield
