"""Hugging Face sequence classifiers saved with ``save_pretrained`` (a directory with
``config.json`` and safetensors weights), read by ``transformers`` from the local files only
(no download, no model code of the directory's own: ``trust_remote_code`` stays off).

Input convention: a record is a row of token ids, ``x`` an integer array ``(n, seq_len)``
(float arrays of whole numbers are accepted; miaudit does not tokenize). The attention mask
is ``x != pad_token_id`` when the model's config has a pad token, else all ones; without a
pad token the records are run one at a time (decoder heads such as GPT-2's pick the last
non-padding token, which needs a pad id to batch). Outputs are the head's logits.

No parameters: the white-box attacks compute per-record gradients with ``torch.func.vmap``,
which transformers' attention-mask code does not support (it branches on tensor values:
measured on BERT and GPT-2 with transformers 5.24), so they are refused for these targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from miaudit.errors import ConfigError, DataError, one_line
from miaudit.targets._base import Target
from miaudit.targets.files._outputs import check_answers
from miaudit.validation import check_int

HF_NO_PARAMETERS = (
    "per-record gradients of a Hugging Face model (torch.func.vmap) are not supported by "
    "transformers' masking code; white-box attacks need a TorchScript file or a safetensors "
    "state dict with its model recipe"
)


def load_huggingface(path: Path, *, weights: str, device: str) -> Any:
    """The sequence-classification model saved in ``path`` (eval mode, on ``device``)."""
    import transformers
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except Exception as e:  # noqa: BLE001 -- transformers raises many types
        raise DataError(
            f"transformers cannot read {path.name}/config.json: {one_line(e)}"
        ) from None
    problem = getattr(config, "problem_type", None)
    if problem in ("multi_label_classification", "regression") or config.num_labels < 2:
        raise ConfigError(
            f"{path.name} is a {problem or 'single-output'} model ({config.num_labels} "
            "label(s)); miaudit audits single-label classifiers (softmax over 2 or more classes)"
        )
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar per target
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(path),
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True if weights == "safetensors" else None,
        )
    except Exception as e:  # noqa: BLE001
        raise DataError(
            f"transformers cannot load {path.name} as a sequence classifier: {one_line(e)}"
        ) from None
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    return model.to(device).eval()


class HuggingFaceTarget(Target):
    """A ``transformers`` sequence-classification model queried on token ids (see the
    module docstring for the input convention)."""

    parameters_note = HF_NO_PARAMETERS

    def __init__(
        self, model: Any, *, path: Path, num_classes: int | None = None, batch_size: int = 256
    ) -> None:
        super().__init__(frozenset({"probabilities", "logits", "labels", "loss"}))
        config = model.config
        self.model = model
        self.path = path
        self._classes = int(config.num_labels)
        if num_classes is not None:
            num_classes = check_int(num_classes, "num_classes", low=2, error=DataError)
            if num_classes != self._classes:
                raise DataError(
                    f"{path.name} has {self._classes} labels (config.num_labels), but "
                    f"num_classes={num_classes}"
                )
        self.pad_token_id = config.pad_token_id
        self.vocab_size = int(config.vocab_size)
        limit = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        self.max_length = int(limit) if limit else None
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        self.batch_size = batch_size if self.pad_token_id is not None else 1

    @property
    def num_classes(self) -> int:
        return self._classes

    @property
    def description(self) -> str:
        return f"Hugging Face {type(self.model).__name__} {self.path.name}"

    def _ids(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2:
            raise DataError(
                f"{self.description} reads token ids of shape (n, seq_len), got records of "
                f"shape {x.shape[1:]}"
            )
        if not np.issubdtype(x.dtype, np.integer):
            if not np.all(np.equal(np.mod(x, 1), 0)):
                raise DataError(f"{self.description} reads token ids; the records are not integers")
        ids = x.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise DataError(
                f"token ids must lie in 0..{self.vocab_size - 1} (the model's vocabulary), got "
                f"{int(ids.min())}..{int(ids.max())}"
            )
        if self.max_length is not None and ids.shape[1] > self.max_length:
            raise DataError(
                f"records of {ids.shape[1]} tokens exceed the model's {self.max_length} positions"
            )
        return ids

    def _logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        ids = self._ids(x)
        device = next(self.model.parameters()).device
        parts: list[np.ndarray] = []
        self.model.eval()
        with torch.no_grad():
            for start in range(0, ids.shape[0], self.batch_size):
                batch = torch.from_numpy(ids[start : start + self.batch_size]).to(device)
                if self.pad_token_id is None:
                    mask = torch.ones_like(batch)
                else:
                    mask = (batch != self.pad_token_id).long()
                out = self.model(input_ids=batch, attention_mask=mask).logits
                parts.append(out.to("cpu", torch.float64).numpy())
        values = np.concatenate(parts) if parts else np.zeros((0, self._classes))
        return check_answers(values, "logits", True, self.description)
