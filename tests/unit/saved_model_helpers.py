"""Small models trained in the tests and saved in every format miaudit loads (seconds each).

Exporters of torch 2.13 warn (``torch.jit.script`` is deprecated, the ONNX exporter's
FutureWarnings); the tests run with warnings as errors, so the writers silence them here,
where the files are written, and nowhere else.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from miaudit.models import train_model

MLP_RECIPE = {
    "model": "mlp",
    "hidden": [32],
    "epochs": 40,
    "batch_size": 64,
    "lr": 0.01,
    "optimizer": "adam",
}


def digits_sets() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Members, non-members and population of the digits data (300 each, float32)."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(y))
    a, b, c = idx[:300], idx[300:600], idx[600:900]
    return (x[a], y[a]), (x[b], y[b]), (x[c], y[c])


def trained_mlp(members: tuple[np.ndarray, np.ndarray]) -> nn.Module:
    """miaudit's MLP (64-32-10) trained on the members (it overfits: a leak to find)."""
    params = {k: v for k, v in MLP_RECIPE.items() if k != "model"}
    target = train_model("mlp", params, *members, num_classes=10, seed=0)
    return target.module.eval()


def factory() -> nn.Module:
    """A module factory for the digits: the same shape as ``trained_mlp``'s, in Sequential."""
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def save_torchscript(
    module: nn.Module, path: Path, *, trace_input: np.ndarray | None = None
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if trace_input is None:
            scripted = torch.jit.script(module)
        else:
            scripted = torch.jit.trace(module, torch.from_numpy(trace_input))
        scripted.save(str(path))
    return path


def save_onnx(module: nn.Module, path: Path, example: np.ndarray, *, dynamic: bool = True) -> Path:
    """``torch.onnx.export`` (dynamo exporter); a dynamic batch dimension unless ``dynamic``
    is False (then the graph reads batches of exactly ``len(example)`` records)."""
    shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.from_numpy(example),),
            str(path),
            dynamo=True,
            dynamic_shapes=shapes,
            verbose=False,
        )
    return path


def save_safetensors(module: nn.Module, path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


def tiny_bert(num_labels: int = 3, seed: int = 0) -> nn.Module:
    """A 1-layer BERT sequence classifier (vocabulary 50, 16 positions), built locally."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=num_labels,
        pad_token_id=0,
    )
    return BertForSequenceClassification(config).eval()


def tiny_gpt2(num_labels: int = 3, seed: int = 0) -> nn.Module:
    """A 1-layer GPT-2 sequence classifier without a pad token (run one record at a time)."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=50,
        n_embd=16,
        n_layer=1,
        n_head=2,
        n_positions=16,
        num_labels=num_labels,
        bos_token_id=1,
        eos_token_id=1,
    )
    return GPT2ForSequenceClassification(config).eval()


def save_pretrained(model: nn.Module, path: Path) -> Path:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    model.save_pretrained(str(path))
    return path
