"""The map's sample (``store.run_index.sample_steps``): about the cap of customers, and
Insiders kept whole while they fill at most half of it."""

from __future__ import annotations

import numpy as np
import pytest

from store.run_index import sample_steps


def _sample(n_customers: int, n_insiders: int, max_points: int) -> tuple[int, int]:
    rng = np.random.default_rng(7)
    ids = np.arange(12346, 12346 + n_customers)
    insiders = np.zeros(n_customers, dtype=bool)
    insiders[rng.choice(n_customers, n_insiders, replace=False)] = True
    step, insiders_step = sample_steps(n_customers, n_insiders, max_points)
    keep = (ids % step == 0) | (insiders & (ids % insiders_step == 0))
    return int(keep.sum()), int((keep & insiders).sum())


def test_a_run_within_the_cap_is_drawn_whole():
    assert sample_steps(30_000, 29_000, 30_000) == (1, 1)
    assert sample_steps(None, None, 30_000) == (1, 1)


def test_insiders_fitting_in_half_the_map_are_all_kept():
    points, insiders = _sample(100_000, 10_000, 30_000)
    assert insiders == 10_000
    assert 30_000 < points < 10_000 + 30_000


@pytest.mark.parametrize("n_customers", [1_000_000, 250_000])
def test_at_a_million_the_insiders_are_sampled_too(n_customers):
    n_insiders = n_customers // 10
    points, insiders = _sample(n_customers, n_insiders, 30_000)
    step, _ = sample_steps(n_customers, n_insiders, 30_000)
    # half the map, plus the Insiders the sample of every customer holds anyway
    assert 12_000 < insiders <= 15_000 + n_insiders // step + 100 < n_insiders
    assert points < 30_000 + 15_000
