"""The reference engine's registries: executors, plan kinds and shadow data sources (issue 10).

The shadow data sources are checked against a transcription of the if-chain they replaced
(``_shadow_pool`` before issue 10), draw for draw.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miaudit.attacks import ReferenceRequest
from miaudit.attacks.base import DATA_SOURCES as ATTACK_DATA_SOURCES
from miaudit.attacks.base import ReferenceKind
from miaudit.errors import ConfigError
from miaudit.pipeline import config as config_module
from miaudit.pipeline import references
from miaudit.reference import EXECUTORS, random_plan, sources, synthesis, train_references
from miaudit.reference import _executors as executors_module

ROOT = Path(__file__).resolve().parents[2]
NUM_CLASSES = 3


def test_executor_names_are_defined_once() -> None:
    assert EXECUTORS == ("serial", "process", "ray", "batched")
    assert tuple(executors_module.REGISTRY) == EXECUTORS
    assert config_module.EXECUTORS is EXECUTORS
    batched = [e.name for e in executors_module.REGISTRY.values() if e.batched]
    checked = [e.name for e in executors_module.REGISTRY.values() if e.check is not None]
    assert batched == checked == ["batched"]


def test_unknown_executor_lists_the_registry() -> None:
    x = np.zeros((4, 2), np.float32)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="unknown executor 'threads'; valid: serial, process"):
        train_references(
            random_plan(4, 2, seed=0),
            x,
            y,
            references._recipe(references.ReferenceSettings(model="logistic_regression"), 2),
            queries={"all": (x, y)},
            executor="threads",
            progress=False,
        )
    with pytest.raises(ValueError, match="already registered"):
        executors_module.register(executors_module.REGISTRY.get("serial"))


def test_plan_kinds_are_the_request_kinds() -> None:
    assert tuple(references.PLAN_KINDS) == typing.get_args(ReferenceKind)


def test_unknown_plan_kind_lists_the_registry() -> None:
    request = ReferenceRequest(kind="bogus", num_models=2)  # type: ignore[arg-type]
    x = np.zeros((8, 2), np.float32)
    y = np.arange(8) % 2
    with pytest.raises(ConfigError, match="unknown reference kind 'bogus'; valid: random, shadow"):
        references.build_reference_outputs(
            request,
            settings=references.ReferenceSettings(model="logistic_regression"),
            target=None,  # type: ignore[arg-type]
            num_classes=2,
            audited=(x, y),
            population=None,
            n_members=4,
            seed=0,
            progress=False,
        )


def test_data_sources_are_the_attacks_data_sources() -> None:
    assert sources.DATA_SOURCES == ATTACK_DATA_SOURCES
    assert tuple(sources.SOURCES) == sources.DATA_SOURCES


def test_unknown_data_source_lists_the_registry() -> None:
    data = sources.AttackerData(
        np.zeros((4, 2)), np.zeros(4, int), 2, np.random.default_rng(0), predict_proba=np.ones_like
    )
    with pytest.raises(ConfigError, match="unknown shadow data source 'web'; valid: population"):
        sources.shadow_data("web", data)


# -- the sources against the if-chain they replaced ------------------------------------------


class _Target:
    """The one thing a data source reads from the target: its probabilities."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x.reshape(len(x), -1))


def _old_shadow_pool(request, target, population, num_classes, rng):
    """``pipeline.references._shadow_pool`` before issue 10, transcribed."""
    x_pop, y_pop = population
    source = request.data_source
    if source == "population":
        return x_pop, y_pop
    if source == "noisy":
        return synthesis.noisy_records(x_pop, fraction=request.noise_fraction, rng=rng), y_pop
    if source == "statistics_synthesis":
        xs, ys = [], []
        for c in range(num_classes):
            xc = x_pop[y_pop == c]
            if len(xc) == 0:
                continue
            xs.append(synthesis.statistics_synthesis(xc, len(xc), rng=rng))
            ys.append(np.full(len(xc), c, dtype=np.int64))
        return np.concatenate(xs).astype(x_pop.dtype), np.concatenate(ys)
    if source == "model_synthesis":
        flat = x_pop.reshape(len(x_pop), -1)
        n_per_class = max(1, len(y_pop) // num_classes)
        binary = bool(np.all((flat == 0) | (flat == 1)))
        result = synthesis.model_synthesis(
            lambda x: target.predict_proba(x.reshape((len(x), *x_pop.shape[1:]))),
            n_per_class,
            num_classes,
            flat.shape[1],
            rng=rng,
            binary=binary,
            allow_fewer=True,
        )
        x_syn, y_syn = result.x, result.y
        return x_syn.reshape((len(x_syn), *x_pop.shape[1:])).astype(x_pop.dtype), y_syn
    raise ConfigError(f"unknown shadow data source {source!r}")


@pytest.fixture(scope="module", params=["binary", "real", "binary-4d"])
def population(request):
    """Binary or real-valued records, as a table or shaped (n, 1, 2, 6) (the reshape path of
    model synthesis; the other synthetic sources refuse it), with a logistic-regression
    target whose class follows feature blocks."""
    rng = np.random.default_rng(0)
    n, d = 60, 12
    x = rng.integers(0, 2, size=(n, d)).astype(np.float32)
    if request.param == "real":
        x = (x * 0.8 + rng.random((n, d)) * 0.2).astype(np.float32)
    y = np.argmax(x.reshape(n, NUM_CLASSES, d // NUM_CLASSES).sum(axis=2), axis=1)
    model = LogisticRegression(max_iter=2000).fit(x, y)
    if request.param.endswith("4d"):
        x = x.reshape(n, 1, 2, 6)
    return x, y.astype(np.int64), _Target(model)


def _outcome(fn, *args):
    """The result of ``fn(*args)``, or the error it raises as (type, message)."""
    try:
        return fn(*args)
    except Exception as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("source", ATTACK_DATA_SOURCES)
def test_data_sources_draw_what_the_if_chain_drew(population, source) -> None:
    x, y, target = population
    request = ReferenceRequest(kind="shadow", data_source=source, noise_fraction=0.2)
    args = (request, target, (x, y), NUM_CLASSES)
    got = _outcome(references._shadow_pool, *args, np.random.default_rng(7))
    want = _outcome(_old_shadow_pool, *args, np.random.default_rng(7))
    if isinstance(want[0], type):  # the same error
        assert got == want
        return
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    if source != "population":  # the sources draw from the generator they are given
        other = references._shadow_pool(*args, np.random.default_rng(8))
        assert not np.array_equal(other[0], got[0])


# -- module shape ----------------------------------------------------------------------------


def test_numpy_only_modules_import_without_torch() -> None:
    code = (
        "import sys; import miaudit.reference.sources, miaudit.reference.synthesis; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _code_shape():
    path = ROOT / "benchmarks" / "code_shape.py"
    spec = importlib.util.spec_from_file_location("_code_shape", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_cycle_finder_sees_lazy_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "miaudit" / "part"
    pkg.mkdir(parents=True)
    (tmp_path / "miaudit" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from miaudit.part.a import f\n")
    (pkg / "a.py").write_text("from miaudit.part import b\n\ndef f():\n    pass\n")
    (pkg / "b.py").write_text("def g():\n    from miaudit.part.a import f\n")
    (pkg / "c.py").write_text("from miaudit.part import f\n")  # a name of the package
    code_shape = _code_shape()
    edges = code_shape.module_graph(tmp_path / "miaudit")
    assert ("miaudit.part.a", "miaudit.part") not in edges  # a submodule, not the package
    assert ("miaudit.part.c", "miaudit.part") in edges
    assert code_shape.cycles(edges) == [["miaudit.part.a", "miaudit.part.b"]]


def test_reference_modules_import_each_other_without_cycles() -> None:
    code_shape = _code_shape()
    edges = code_shape.module_graph()
    assert ("miaudit.reference._batched", "miaudit.reference._jobs") in edges
    in_reference = [
        g for g in code_shape.cycles(edges) if any(m.startswith("miaudit.reference") for m in g)
    ]
    assert in_reference == []
