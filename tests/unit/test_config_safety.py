"""Config loading safety (issue 9 items 11-13): bounded error messages, YAML bombs,
duplicate keys, encodings, memory estimates, and imports named by a config."""

from __future__ import annotations

import functools
import sys
import time

import numpy as np
import pytest

from miaudit import resources
from miaudit.errors import ConfigError, ResourceError, short_repr
from miaudit.models._zoo import build_torch_module, check_model_memory, estimate_training_bytes
from miaudit.pipeline import load_config, parse_config, run_config
from miaudit.pipeline._preflight import ENV_NO_IMPORTS, check_train_fn, import_train_fn
from miaudit.pipeline._yaml import read_yaml


def test_short_repr_caps_long_values():
    # Before issue 9 item 12 errors printed the whole value (a 2.1 GB line for a YAML bomb).
    assert len(short_repr("x" * 10_000)) <= 80
    assert len(short_repr(list(range(100_000)), limit=50)) <= 50
    assert short_repr("false") == "'false'"


def test_short_repr_of_shared_nested_value_is_fast_and_short():
    # A "billion laughs" value: 9**30 leaves if walked naively.
    value: list = [1]
    for _ in range(30):
        value = [value] * 9
    assert len(short_repr(value)) <= 80


# --- the YAML reader (items 11 and 12) -------------------------------------------------------


def _bomb(levels: int, fan: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * fan)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return "\n".join(lines) + f"\ndataset: *a{levels}\n"


def _load_error(tmp_path, content: str | bytes) -> str:
    path = tmp_path / "c.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def test_billion_laughs_is_refused_before_expansion(tmp_path):
    # 9 levels of 9 aliases: 9**10 values once expanded (the 81 s, 9.7 GB, 2.1 GB line).
    start = time.perf_counter()
    message = _load_error(tmp_path, _bomb(9, 9))
    assert "expand to more than" in message
    assert time.perf_counter() - start < 5  # generous: the refusal itself takes milliseconds


def test_too_many_aliases_are_refused(tmp_path):
    text = "x: &x 1\nlist: [" + ", ".join(["*x"] * 150) + "]\n"
    assert "more than 100 aliases" in _load_error(tmp_path, text)


def test_recursive_alias_is_refused(tmp_path):
    assert "contains it" in _load_error(tmp_path, "a: &a [1, *a]\n")


def test_duplicate_keys_are_refused_with_lines(tmp_path):
    # Before the fix the second 'seed' silently won.
    text = "seed: 1\ndataset: {name: location}\nseed: 2\n"
    assert "duplicate key 'seed' at line 3 (first at line 1)" in _load_error(tmp_path, text)
    nested = "target: {model: mlp, epochs: 1, epochs: 2}\n"
    assert "duplicate key 'epochs'" in _load_error(tmp_path, nested)


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother: {<<: *b, x: 3}\n")
    assert read_yaml(path)["other"] == {"x": 3, "y": 2}


def test_non_utf8_config_is_one_line(tmp_path):
    # Before the fix: a UnicodeDecodeError traceback.
    message = _load_error(tmp_path, "title: caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in message and "offset 10" in message


def test_deep_nesting_huge_ints_and_big_files_are_one_line(tmp_path):
    assert "levels deep" in _load_error(tmp_path, "a: " + "[" * 5000 + "]" * 5000)
    assert "thousands of digits" in _load_error(tmp_path, "seed: " + "9" * 5000)
    assert "too large for a config" in _load_error(tmp_path, "# " + "x" * (2 << 20))


VALID = (
    "dataset: {name: location}\nsplit: {members: 10, nonmembers: 10}\n"
    "target: {model: mlp}\nattacks: [loss]\n"
)


def test_long_values_are_cut_in_config_errors(tmp_path):
    # Before the fix the message held the whole value (100 KB here; 2.1 GB for the bomb).
    assert "..." in _load_error(tmp_path, VALID + "seed: " + "x" * 100_000 + "\n")
    long_key = "? " + "x" * 100_000 + "\n: 1\n"  # an explicit key: simple keys stop at 1024
    assert "unknown key" in _load_error(tmp_path, VALID + long_key)
    assert "unknown model" in _load_error(tmp_path, VALID.replace("mlp", "m" * 100_000))


# --- memory estimates (item 11) --------------------------------------------------------------


def _numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("name", "params", "shape"),
    [
        ("mlp", {"hidden": []}, (7,)),
        ("mlp", {"hidden": [5, 3], "dropout": 0.5}, (2, 3)),
        ("cnn", {"channels": [4], "hidden": 6}, (1, 28, 28)),
        ("cnn", {"channels": [2, 3, 5], "hidden": 7}, (3, 33, 33)),
        ("sample_convnet", {"channels": [4, 6], "hidden": 5}, (1, 14, 14)),
        ("sample_convnet", {}, (3, 32, 32)),
    ],
)
def test_parameter_count_is_exact_without_building(name, params, shape):
    # The estimate counts what build_torch_module would allocate, without allocating it.
    parameters, _ = estimate_training_bytes(name, params, shape, 10)
    assert parameters == _numel(build_torch_module(name, params, shape, 10, seed=0))


def test_huge_model_is_refused_before_allocation(monkeypatch):
    # Before the fix hidden=[100000000] ran 52 s and took 11 GB before failing.
    monkeypatch.setenv(resources.ENV_LIMIT, "8G")
    start = time.perf_counter()
    with pytest.raises(
        ResourceError, match=r"needs about .* GiB; this machine has .* available; make the model"
    ):
        build_torch_module("mlp", {"hidden": [100_000_000]}, (446,), 30, seed=0)
    assert time.perf_counter() - start < 1  # refused from arithmetic, nothing built


def test_batch_is_bounded_by_the_training_set(monkeypatch):
    monkeypatch.setenv(resources.ENV_LIMIT, "1G")
    params = {"hidden": [10], "batch_size": 10**9}
    check_model_memory("mlp", params, (20,), 2, n_records=1000)  # full batches: fits
    with pytest.raises(ResourceError):
        check_model_memory("mlp", params, (20,), 2, n_records=10**9)


def test_available_memory_honours_limits(monkeypatch):
    monkeypatch.setenv(resources.ENV_LIMIT, "1.5 GiB")
    assert resources.available_memory() <= 1.5 * 2**30
    monkeypatch.setenv(resources.ENV_LIMIT, "lots")
    with pytest.raises(ResourceError, match="not a size"):
        resources.available_memory()
    monkeypatch.delenv(resources.ENV_LIMIT)
    monkeypatch.setattr(resources, "_meminfo_available", lambda: None)
    monkeypatch.setattr(resources, "_cgroup_available", lambda: None)
    monkeypatch.setattr(resources, "_rlimit_available", lambda: None)
    assert resources.available_memory() is None
    resources.require_memory(2**40, "x", "y")  # unknown: only the petabyte bound refuses
    with pytest.raises(ResourceError, match="no machine has that much"):
        resources.require_memory(2**51, "x", "y")


def test_format_bytes():
    assert resources.format_bytes(356 * 2**30) == "356 GiB"
    assert resources.format_bytes(14.6 * 2**40) == "14.6 TiB"
    assert resources.format_bytes(512) == "512 bytes"


# --- code named by a config (items 11 and 13) -------------------------------------------------

TRAIN_FN_MODULE = """
import pathlib
pathlib.Path(__file__).with_name("imported.txt").write_text("side effect")
not_callable = 3
def good(x, y, seed):
    return None
def two_args(x, y):
    return None
class Trainer:
    def __init__(self, x, y, seed):
        pass
"""


@pytest.fixture
def train_fn_module(tmp_path, monkeypatch):
    """A module with an import side effect (it writes imported.txt), importable by name."""
    name = f"miaudit_probe_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(TRAIN_FN_MODULE)
    (tmp_path / "broken_at_import.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(ENV_NO_IMPORTS, raising=False)
    return name, tmp_path / "imported.txt"


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("os:system", "is a builtin_function_or_method, not a Python function"),
        ("builtins:print", "not a Python function"),
        ("{m}:not_callable", "is an int, not a Python function"),
        ("{m}:two_args", "must accept (x, y, seed); its signature is '(x, y)'"),
        ("{m}:Trainer", "is a class"),
        ("{m}:missing", "has no attribute 'missing'"),
        ("no_such_module_xyz:f", "cannot be imported: No module named 'no_such_module_xyz'"),
        ("broken_at_import:f", "importing 'broken_at_import' failed: RuntimeError: boom"),
        ("{m}:good.x.", "must look like 'package.module:function'"),
    ],
)
def test_train_fn_must_be_a_python_function_of_x_y_seed(train_fn_module, attr, message):
    # Before the fix 'os:system' was accepted (callable) and failed later with a TypeError.
    with pytest.raises(ConfigError) as info:
        import_train_fn(attr.format(m=train_fn_module[0]))
    assert message in str(info.value)


def test_good_train_fn_and_partials_are_accepted(train_fn_module):
    fn = import_train_fn(f"{train_fn_module[0]}:good")
    assert fn(None, None, 0) is None
    check_train_fn(functools.partial(fn))
    check_train_fn(lambda x, y, seed, extra=1: None)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_no_imports_mode_refuses_before_importing(train_fn_module, monkeypatch, how):
    name, marker = train_fn_module
    config = parse_config(
        {
            "dataset": {"path": "does-not-exist.npz"},  # refused before the data are read
            "split": {"members": 10, "nonmembers": 10},
            "target": {"model": "logistic_regression"},
            "attacks": ["lira"],
            "reference": {"train_fn": f"{name}:good"},
        }
    )
    kwargs = {"allow_imports": False} if how == "argument" else {"allow_imports": True}
    if how == "environment":  # the environment wins over an argument
        monkeypatch.setenv(ENV_NO_IMPORTS, "1")
    with pytest.raises(ConfigError, match="imports from configs are disabled"):
        run_config(config, progress=False, **kwargs)
    assert not marker.exists()  # the module's code never ran
    assert name not in sys.modules


def test_config_sizes_are_refused_before_training(tmp_path, monkeypatch):
    # Before the fix random_queries 1e11 asked numpy for 14.6 TiB after the target trained.
    monkeypatch.setenv(resources.ENV_LIMIT, "4G")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(60, 5)), y=np.arange(60) % 2)
    base = {
        "dataset": {"path": str(data)},
        "split": {"members": 20, "nonmembers": 20},
        "target": {"model": "logistic_regression"},
        "attacks": ["loss"],
    }
    cases = [
        ({"evaluation": {"random_queries": 10**11}}, "evaluation.random_queries"),
        ({"evaluation": {"bootstrap": 10**10}}, "evaluation.bootstrap"),
        ({"reference": {"num_models": 10**10}}, "reference.num_models"),
        ({"target": {"model": "mlp", "hidden": [10**9]}}, "target model mlp"),
        ({"reference": {"model": {"model": "mlp", "hidden": [10**9]}}}, "reference model mlp"),
    ]
    for patch, what in cases:
        with pytest.raises(ResourceError, match=f"{what}.* needs about .*; this machine has"):
            run_config({**base, **patch}, progress=False)


def test_nul_bytes_and_seeds_beyond_2_32_are_one_line(tmp_path):
    # NUL: a yaml ReaderError traceback (raised as the loader is built) before the fix.
    assert "invalid YAML" in _load_error(tmp_path, VALID + "title: a\x00b\n")
    # torch.manual_seed(2**64) raised an OverflowError traceback mid-run before the fix.
    assert "'seed' must be an integer in [0, 4294967295]" in _load_error(
        tmp_path, VALID + f"seed: {2**64}\n"
    )


def test_bootstrap_too_large_for_memory_is_refused_before_drawing(monkeypatch):
    # Before the fix numpy was asked for the (resamples x records) index arrays outright.
    from miaudit.metrics import bootstrap_ci
    from miaudit.metrics._roc import auc

    monkeypatch.setenv(resources.ENV_LIMIT, "1G")
    y, s = np.arange(100) % 2 == 0, np.linspace(0, 1, 100)
    with pytest.raises(ResourceError, match="a bootstrap of 10,000,000,000 resamples"):
        bootstrap_ci(y, s, auc, n_resamples=10**10)
