"""The cache key of a user train_fn follows its behaviour (issue 9 item 1).

Before the fix the key was the function's module and qualified name only, so two partials,
lambdas or closures with different settings shared cached models: LiRA read references
"trained" with C=1e-4 when the run asked for C=100.
"""

from __future__ import annotations

import functools
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miaudit.errors import ConfigError
from miaudit.pipeline import ReferenceSettings
from miaudit.pipeline.references import _recipe, check_cacheable
from miaudit.reference import ReferenceRun, TrainRecipe, _cache, random_plan, train_references
from miaudit.reference._fingerprint import Unfingerprintable, fingerprint_callable

TrainFn = Callable[[np.ndarray, np.ndarray, int], Any]


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def _run(fn: TrainFn, cache: Path | None, **recipe: Any) -> ReferenceRun:
    x, y = _data()
    return train_references(
        random_plan(len(y), 2, seed=5),
        x,
        y,
        TrainRecipe(train_fn=fn, **recipe),
        queries={"all": (x, y)},
        cache_dir=cache,
        progress=False,
    )


def _probs(run: ReferenceRun) -> np.ndarray:
    return np.stack([o["all"].probs for o in run.outputs])


def fit_lr(x: np.ndarray, y: np.ndarray, seed: int, C: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=C, random_state=seed).fit(x, y)


def _closure(c: float) -> TrainFn:
    def train(x: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
        return LogisticRegression(C=c, random_state=seed).fit(x, y)

    return train


def _pairs() -> dict[str, tuple[TrainFn, TrainFn]]:
    """The issue's scenario three ways: the same name, C=1e-4 vs C=100."""
    return {
        "partials": (functools.partial(fit_lr, C=1e-4), functools.partial(fit_lr, C=100.0)),
        "lambdas": (
            lambda x, y, s: LogisticRegression(C=1e-4, random_state=s).fit(x, y),
            lambda x, y, s: LogisticRegression(C=100.0, random_state=s).fit(x, y),
        ),
        "closures": (_closure(1e-4), _closure(100.0)),
    }


@pytest.mark.parametrize("kind", ["partials", "lambdas", "closures"])
def test_weak_references_in_the_cache_are_not_reused_for_strong_ones(
    kind: str, tmp_path: Path
) -> None:
    weak, strong = _pairs()[kind]
    first = _run(weak, tmp_path)
    assert not first.cached.any()
    run = _run(strong, tmp_path)
    assert not run.cached.any(), f"two {kind} with different C shared cached models"
    clean = _run(strong, None)
    np.testing.assert_array_equal(_probs(run), _probs(clean))  # same computation, no cache
    assert not np.allclose(_probs(run), _probs(first))  # C changes the models
    again = _run(_pairs()[kind][1], tmp_path)  # an equal function rebuilt: a cache hit
    assert again.cached.all()


def _fp(fn: Any) -> str:
    return fingerprint_callable(fn)


def _function(source: str, name: str = "train", **namespace: Any) -> types.FunctionType:
    """A function compiled from ``source`` in a fresh user module (same name every time)."""
    module = types.ModuleType("user_train_module")
    module.__dict__.update(namespace)
    exec(compile(source, "<user>", "exec"), module.__dict__)
    return module.__dict__[name]


def test_code_changes_change_the_fingerprint() -> None:
    a = _function("def train(x, y, seed):\n    return x + 1\n")
    b = _function("def train(x, y, seed):\n    return x + 2\n")  # a constant
    c = _function("def train(x, y, seed):\n    return x - 1\n")  # an operation
    d = _function("def train(x, y, seed):\n    return y + 1\n")  # a name
    nested = _function("def train(x, y, seed):\n    f = lambda v: v * 2\n    return f(x)\n")
    nested2 = _function("def train(x, y, seed):\n    f = lambda v: v * 3\n    return f(x)\n")
    moved = _function("\n\n\ndef train(x, y, seed):\n    return x + 1\n")  # other lines
    assert len({_fp(a), _fp(b), _fp(c), _fp(d), _fp(nested), _fp(nested2)}) == 6
    assert _fp(moved) == _fp(a)  # line numbers do not change behaviour


def test_defaults_closures_partials_and_globals_change_the_fingerprint() -> None:
    src = "def train(x, y, seed, c=1.0, *, k=2):\n    return scale * c * k\n"
    base = _function(src, scale=3.0)
    assert _fp(base) == _fp(_function(src, scale=3.0))
    assert _fp(base) != _fp(_function(src, scale=4.0))  # a plain-data global
    other = _function(src, scale=3.0)
    other.__defaults__ = (2.0,)
    assert _fp(other) != _fp(base)
    other = _function(src, scale=3.0)
    other.__kwdefaults__ = {"k": 5}
    assert _fp(other) != _fp(base)
    assert _fp(_closure(1.0)) != _fp(_closure(1.5))
    inner = functools.partial(fit_lr, C=1.0)
    assert _fp(functools.partial(inner, C=2.0)) != _fp(functools.partial(inner, C=3.0))
    assert _fp(functools.partial(fit_lr, 1)) != _fp(functools.partial(fit_lr, 2))
    arrays = [np.zeros(3), np.zeros(4), np.zeros(3, np.float32), np.ones(3)]
    fps = {_fp(_function(src, scale=a)) for a in arrays}
    assert len(fps) == 4  # dtype, shape and content
    settings = [{"a": 1}, {"a": 2}, [1, 2], (1, 2), {1, 2}, frozenset({1, 3}), None, "s"]
    assert len({_fp(_function(src, scale=v)) for v in settings}) == len(settings)


def test_estimators_classes_and_helpers_by_content() -> None:
    src = "def train(x, y, seed):\n    return clone(TEMPLATE).fit(x, y)\n"
    from sklearn.base import clone

    a = _function(src, TEMPLATE=LogisticRegression(C=1.0), clone=clone)
    b = _function(src, TEMPLATE=LogisticRegression(C=2.0), clone=clone)
    assert _fp(a) != _fp(b)
    helper1 = _function("def helper(v):\n    return v * 2\n", name="helper")
    helper2 = _function("def helper(v):\n    return v * 3\n", name="helper")
    src = "def train(x, y, seed):\n    return helper(x)\n"
    assert _fp(_function(src, helper=helper1)) != _fp(_function(src, helper=helper2))
    cls1 = _function("class Net:\n    width = 4\n    def f(self):\n        return 1\n", "Net")
    cls2 = _function("class Net:\n    width = 8\n    def f(self):\n        return 1\n", "Net")
    src = "def train(x, y, seed):\n    return Net()\n"
    assert _fp(_function(src, Net=cls1)) != _fp(_function(src, Net=cls2))


def test_recursion_is_guarded_and_deterministic() -> None:
    rec = _function("def train(x, y, seed):\n    return train(x, y, seed - 1) if seed else x\n")
    assert _fp(rec) == _fp(rec)
    loop: list[Any] = [1]
    loop.append(loop)
    with_loop = _function("def train(x, y, seed):\n    return CONF\n", CONF=loop)
    assert _fp(with_loop) == _fp(with_loop)


def test_unfingerprintable_values_refuse_to_cache(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def noisy(x: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
        return LogisticRegression(C=float(rng.random() + 1), random_state=seed).fit(x, y)

    with pytest.raises(Unfingerprintable, match="closure variable 'rng'.*Generator"):
        _fp(noisy)
    with pytest.raises(ConfigError, match="cannot fingerprint train_fn.*train_fn_version") as e:
        _run(noisy, tmp_path)
    assert "\n" not in str(e.value)
    assert not _run(noisy, None).cached.any()  # without a cache nothing needs a key


def test_an_explicit_version_replaces_the_fingerprint(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def noisy(x: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
        return LogisticRegression(C=float(rng.random() + 1), random_state=seed).fit(x, y)

    assert not _run(noisy, tmp_path, train_fn_version="v1").cached.any()
    assert _run(noisy, tmp_path, train_fn_version="v1").cached.all()
    assert not _run(noisy, tmp_path, train_fn_version="v2").cached.any()
    noisy.cache_version = "v2"  # type: ignore[attr-defined]
    assert _run(noisy, tmp_path).cached.all()  # the attribute is the same key
    with pytest.raises(ConfigError, match="non-empty string"):
        TrainRecipe(train_fn=noisy, train_fn_version="")
    with pytest.raises(ConfigError, match="train_fn_version"):
        TrainRecipe(model="mlp", train_fn_version="v1")


def test_reference_settings_carry_the_version() -> None:
    settings = ReferenceSettings(train_fn=fit_lr, train_fn_version="v7")
    assert _recipe(settings, 2).train_fn_version == "v7"
    rng = np.random.default_rng(0)
    noisy = functools.partial(fit_lr, C=rng)
    check_cacheable(ReferenceSettings(train_fn=noisy))  # no cache: nothing to identify
    check_cacheable(ReferenceSettings(train_fn=noisy, cache_dir="c", train_fn_version="v1"))
    with pytest.raises(ConfigError, match="cannot fingerprint train_fn"):
        check_cacheable(ReferenceSettings(train_fn=noisy, cache_dir="c"))
    with pytest.raises(ConfigError, match="train_fn_version"):
        _recipe(ReferenceSettings(model="mlp", train_fn_version="v7"), 2)


def test_builtin_recipe_keys_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinned before the fix: existing cache entries of built-in recipes stay valid."""
    recipe = TrainRecipe(model="mlp", params={"hidden": (16,), "epochs": 3}, num_classes=3)
    assert recipe.fingerprint() == (
        '{"model":"mlp","num_classes":3,"params":{"activation":"relu","batch_size":64,'
        '"dropout":0.0,"epochs":3,"hidden":[16],"lr":0.001,"momentum":0.9,'
        '"optimizer":"adam","weight_decay":0.0}}'
    )
    monkeypatch.setattr(
        _cache, "versions", lambda: {"miaudit": "0", "torch": "0", "numpy": "0", "sklearn": "0"}
    )
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.array([0, 1, 2, 0, 1, 2])
    fp = recipe.fingerprint()
    assert _cache.model_key(x, y, fp, 7) == (
        "e8304f0a66eeb70b5b6e3694ca2ce5b40b5d22e930b6f957f2464dc3d87cdab0"
    )
    assert _cache.model_key(x, y, fp + "|batched", 7) == (
        "8c03ff7303a792ecd7433defde47244b45c500dc7dab3089e9deab1f5a4fea75"
    )
    assert _cache.query_hash(x, y, None) == "f7ef545222442b91369cb167cdb5d497"


def test_fingerprint_is_the_same_in_a_fresh_interpreter() -> None:
    """Set order and string hashing differ between processes; the key must not."""
    import subprocess

    code = (
        "import functools, sys; sys.path.insert(0, {root!r});"
        "from tests.unit.test_train_fn_fingerprint import fit_lr;"
        "from miaudit.reference._fingerprint import fingerprint_callable as f;"
        "print(f(functools.partial(fit_lr, C={{1.0, 'a', (2, 3)}})))"
    )
    root = str(Path(__file__).resolve().parents[2])
    here = _fp(functools.partial(fit_lr, C={1.0, "a", (2, 3)}))
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"  # not ours
    out = subprocess.run(
        [sys.executable, "-c", code.format(root=root)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": seed, "PATH": ""},
    )
    assert out.stdout.strip() == here


def test_config_train_fn_version_reaches_the_cache(tmp_path: Path) -> None:
    """A config's reference.train_fn_version replaces the fingerprint (issue 9 item 1): the
    run that the bare train_fn refuses goes through and caches its models."""
    from miaudit.pipeline import run_config

    config = {
        "seed": 0,
        "dataset": {"name": "digits"},
        "split": {"members": 60, "nonmembers": 60, "population": 60},
        "target": {"model": "logistic_regression"},
        "attacks": ["lira"],
        "evaluation": {"bootstrap": 0, "random_queries": 0},
        "reference": {
            "train_fn": "tests.fuzz.fuzz_train_fns:reads_a_generator",
            "cache_dir": str(tmp_path / "cache"),
            "num_models": 2,
        },
    }
    with pytest.raises(ConfigError, match="cannot fingerprint train_fn"):
        run_config(config, progress=False)
    config["reference"]["train_fn_version"] = "v1"
    result = run_config(config, progress=False)
    assert result.attack("lira").error is None
    assert len(list((tmp_path / "cache").glob("*/*/meta.json"))) == 2
