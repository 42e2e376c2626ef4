from __future__ import annotations

from collections.abc import Iterator

import pytest

from attnlab.experiments.registry import ExperimentRegistry, isolated_registry
from experiment_fakes import make_fake


@pytest.fixture
def fake_registry() -> Iterator[ExperimentRegistry]:
    """A test-only registry holding ``fake_pass`` (accuracy 0.97) and ``fake_miss`` (0.5)."""
    with isolated_registry() as registry:
        registry.register(make_fake("fake_pass", accuracy=0.97))
        registry.register(make_fake("fake_miss", accuracy=0.5))
        yield registry
