"""Saved models audited end to end through the Python API (issue 11): the audit of the
loaded file equals the audit of the live model it was saved from.

Bitwise-identical outputs (TorchScript, safetensors, skops, Hugging Face) give identical
scores and metrics; ONNX runs onnxruntime's float32 kernels, whose outputs differ from
torch's by about 1e-7, so its scores are compared within 1e-5 and its AUC within 1e-3 (a
difference of 1e-7 can only swap records whose scores are that close)."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

import miaudit
from tests.unit import saved_model_helpers as h

ATTACKS = ["loss", "confidence", "entropy", "modified_entropy", "gap"]


@pytest.fixture(scope="module")
def sets():
    return h.digits_sets()


def _audit(model, sets, attacks=ATTACKS):
    members, nonmembers, population = sets
    return miaudit.audit(
        model,
        members=members,
        nonmembers=nonmembers,
        population=population,
        attacks=attacks,
        bootstrap=20,
        random_queries=200,
        seed=0,
        progress=False,
    )


def _assert_same(got, want, *, exact: bool):
    assert [a.name for a in got.attacks] == [a.name for a in want.attacks]
    for a, b in zip(got.attacks, want.attacks, strict=True):
        assert a.error is None and b.error is None, (a.error, b.error)
        if exact:
            np.testing.assert_array_equal(a.scores, b.scores)
            assert a.metrics == b.metrics
        else:
            np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)
            assert abs(a.metrics.auc - b.metrics.auc) <= 1e-3
    assert got.target.train_accuracy == want.target.train_accuracy
    assert got.target.test_accuracy == want.target.test_accuracy


def test_torch_formats_audit_like_the_live_model(sets, tmp_path):
    mlp = h.trained_mlp(sets[0])
    live = _audit(mlp, sets, [*ATTACKS, "gradient_norm"])
    assert live.attack("loss").metrics.auc > 0.55  # the model leaks: a result worth comparing
    recipe = {"model": "mlp", "hidden": [32]}
    torchscript = miaudit.load_target(h.save_torchscript(mlp, tmp_path / "m.pt"))
    safetensors = miaudit.load_target(
        h.save_safetensors(mlp, tmp_path / "m.safetensors"), model=recipe
    )
    for target in (torchscript, safetensors):
        _assert_same(_audit(target, sets, [*ATTACKS, "gradient_norm"]), live, exact=True)
    onnx = miaudit.load_target(h.save_onnx(mlp, tmp_path / "m.onnx", sets[0][0][:4]))
    _assert_same(_audit(onnx, sets), _audit(mlp, sets), exact=False)


def test_skops_audits_like_the_live_model(sets, tmp_path):
    lr = LogisticRegression(C=100.0, max_iter=2000).fit(*sets[0])
    sio.dump(lr, tmp_path / "lr.skops")
    _assert_same(
        _audit(miaudit.load_target(tmp_path / "lr.skops"), sets), _audit(lr, sets), exact=True
    )


def test_huggingface_audits_like_the_live_model(tmp_path):
    """Token-id records: the tiny BERT is audited from its directory and, live, through a
    Target that applies the same input convention (mask from the pad id)."""
    import torch

    from miaudit.targets import Target

    live_model = h.tiny_bert(num_labels=2)
    path = h.save_pretrained(live_model, tmp_path / "bert")

    class Live(Target):
        def __init__(self):
            super().__init__(frozenset({"probabilities", "logits", "labels", "loss"}))

        num_classes = 2
        description = "live BERT"

        def _logits(self, x):
            t = torch.from_numpy(np.asarray(x, dtype=np.int64))
            with torch.no_grad():
                return (
                    live_model(input_ids=t, attention_mask=(t != 0).long()).logits.double().numpy()
                )

    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(240, 12))
    x[::3, 9:] = 0  # some padded records
    y = rng.integers(0, 2, size=240)
    sets = ((x[:80], y[:80]), (x[80:160], y[80:160]), (x[160:], y[160:]))
    _assert_same(_audit(miaudit.load_target(path), sets), _audit(Live(), sets), exact=True)
