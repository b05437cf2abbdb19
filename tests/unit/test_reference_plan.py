"""Reference plans: balanced random membership (LiRA) and disjoint shadow sets (Shokri)."""

from __future__ import annotations

import numpy as np
import pytest

from miaudit.errors import ConfigError, DataError
from miaudit.reference import ReferencePlan, random_plan, shadow_plan


@pytest.mark.parametrize("num_models,pkeep", [(2, 0.5), (8, 0.5), (7, 0.5), (10, 0.3)])
def test_random_plan_is_balanced(num_models: int, pkeep: float) -> None:
    plan = random_plan(101, num_models, seed=4, pkeep=pkeep)
    m = plan.membership()
    assert m.shape == (101, num_models) and m.dtype == bool
    assert np.all(m.sum(axis=1) == int(pkeep * num_models))
    np.testing.assert_array_equal(plan.out_membership(), ~m)
    assert plan.kind == "random" and plan.num_models == num_models
    for t, o in zip(plan.train_indices, plan.out_indices, strict=True):
        assert t.dtype == np.int64 and np.all(np.diff(t) > 0)
        assert np.intersect1d(t, o).size == 0 and t.size + o.size == 101


def test_random_plan_matches_lira_reference_code() -> None:
    """keep = uniform(size=(N, n)).argsort(0) < int(pkeep * N), as in mi_lira_2021/train.py."""
    plan = random_plan(50, 4, seed=9)
    plan_ss, _ = np.random.SeedSequence(9).spawn(2)
    keep = np.random.default_rng(plan_ss).uniform(size=(4, 50)).argsort(0) < 2
    np.testing.assert_array_equal(plan.membership(), keep.T)


def test_random_plan_one_model_trains_on_half() -> None:
    plan = random_plan(40, 1, seed=0)
    assert plan.train_indices[0].size == 20 and plan.out_indices[0].size == 20


def test_plans_are_deterministic_by_seed() -> None:
    a, b, c = (random_plan(60, 6, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.membership(), b.membership())
    assert a.seeds == b.seeds
    assert not np.array_equal(a.membership(), c.membership()) and a.seeds != c.seeds
    assert len(set(a.seeds)) == 6 and all(0 <= s < 2**32 for s in a.seeds)
    s1, s2 = (shadow_plan(60, 3, train_size=10, seed=5) for _ in range(2))
    np.testing.assert_array_equal(s1.membership(), s2.membership())
    np.testing.assert_array_equal(s1.out_membership(), s2.out_membership())


def test_shadow_plan_in_and_out_are_disjoint() -> None:
    plan = shadow_plan(100, 5, train_size=30, seed=3)
    assert plan.kind == "shadow"
    m, o = plan.membership(), plan.out_membership()
    assert np.all(m.sum(axis=0) == 30) and np.all(o.sum(axis=0) == 30)
    assert not np.any(m & o)
    # models draw independently, so they overlap
    assert (m[:, 0] & m[:, 1]).any()


def test_plan_errors() -> None:
    with pytest.raises(DataError, match="train_size <= 50"):
        shadow_plan(100, 2, train_size=51, seed=0)
    with pytest.raises(ConfigError, match="num_models"):
        random_plan(10, 0, seed=0)
    with pytest.raises(ConfigError, match="pkeep"):
        random_plan(10, 4, seed=0, pkeep=1.0)
    with pytest.raises(ConfigError, match="at least one IN"):
        random_plan(10, 2, seed=0, pkeep=0.3)
    with pytest.raises(ConfigError, match="seed"):
        random_plan(10, 2, seed=-1)
    with pytest.raises(DataError, match="both in"):
        ReferencePlan(5, (np.array([0, 1]),), (np.array([1, 2]),), (0,), "shadow")
    with pytest.raises(DataError, match="sorted"):
        ReferencePlan(5, (np.array([1, 0]),), (np.array([2]),), (0,), "shadow")
    with pytest.raises(ConfigError, match="kind"):
        ReferencePlan(5, (np.array([0]),), (np.array([2]),), (0,), "other")
