"""Targets of torch modules read from files (TorchScript, safetensors, ``torch.save``): a
:class:`~miaudit.targets.TorchTarget` that names its file, declares what its output is and
exposes its parameters only when white-box attacks can use them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from miaudit.errors import DataError, one_line
from miaudit.targets._torch import TorchTarget
from miaudit.targets.files._outputs import check_answers

#: why a module returning probabilities gets no "parameters" capability
PROBS_NO_PARAMETERS = (
    "its outputs are probabilities, and the white-box attacks differentiate the "
    "cross-entropy of logits: give a module returning logits"
)


class TorchScriptWeights(nn.Module):
    """A TorchScript module whose parameters are ordinary ``nn.Parameter`` s.

    ``torch.func.functional_call`` (the per-record gradients of the white-box attacks)
    refuses TorchScript modules ("The stateless API can't be used with Jitted modules").
    This module registers a parameter for each of the script's (sharing its storage, under
    the same ``named_parameters`` names) and, on every forward pass, puts its current
    parameter tensors into the script before running it and the originals back afterwards.
    So ``functional_call``, ``vmap`` and ``grad`` see a plain module, and the script's own
    code computes the output: the outputs and gradients equal those of the module that was
    scripted (tests: bitwise on miaudit's MLP and CNN).

    The script's layers are not ``nn.Linear`` / ``nn.Conv2d`` instances and take no forward
    hooks, so attacks that read layer activations (``nasr_whitebox``) need the eager module:
    give the file's recipe (``model: ...``) to load its weights into one.
    """

    layers_note = (
        "a TorchScript module's layers cannot be hooked for their activations: give the "
        "model recipe (model: ...) so that its weights are loaded into an eager module"
    )

    def __init__(self, script: torch.jit.ScriptModule) -> None:
        super().__init__()
        self._script = (script,)  # a tuple: not registered as a submodule
        self._names: list[str] = []
        for name, p in script.named_parameters():
            *path, leaf = name.split(".")
            holder: nn.Module = self
            for part in path:
                if part not in holder._modules:
                    holder.add_module(part, nn.Module())
                holder = holder._modules[part]  # type: ignore[assignment]
            holder.register_parameter(leaf, nn.Parameter(p.detach(), requires_grad=p.requires_grad))
            self._names.append(name)
        self.train(script.training)

    @property
    def script(self) -> torch.jit.ScriptModule:
        """The loaded TorchScript module."""
        return self._script[0]

    def train(self, mode: bool = True) -> TorchScriptWeights:
        super().train(mode)
        self.script.train(mode)
        return self

    def _own(self, name: str) -> torch.Tensor:
        *path, leaf = name.split(".")
        holder: nn.Module = self
        for part in path:
            holder = holder._modules[part]  # type: ignore[assignment]
        return getattr(holder, leaf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        script = self.script
        saved: list[tuple[torch.jit.ScriptModule, str, torch.Tensor]] = []
        try:
            for name in self._names:
                *path, leaf = name.split(".")
                holder = script
                for part in path:
                    holder = getattr(holder, part)
                saved.append((holder, leaf, getattr(holder, leaf)))
                setattr(holder, leaf, self._own(name))
            try:
                return script(x)
            except RuntimeError as e:  # TorchScript's are many lines; keep the last one
                lines = [ln for ln in str(e).splitlines() if ln.strip()]
                last = lines[-1] if lines else str(e)
                raise RuntimeError(one_line(last.removeprefix("RuntimeError: "))) from None
        finally:
            for holder, leaf, original in reversed(saved):
                setattr(holder, leaf, original)


class TorchFileTarget(TorchTarget):
    """A torch module loaded from ``path`` (format ``fmt``), queried like a TorchTarget.

    Args:
        module: the loaded module.
        fmt: the file's format, for descriptions and messages ("TorchScript", ...).
        path: the file.
        output: "logits" (the default of torch modules) or "probabilities".
        explicit: whether ``output`` was given (assumed logits that look like
            probabilities are refused, see :mod:`miaudit.targets.files._outputs`).
        parameters_note: None when white-box attacks may use the module's parameters;
            otherwise why they may not (the target then has no "parameters" capability).
        reference: the module as saved, when ``module`` is a recipe's module that received
            its weights (TorchScript + recipe): the first query runs both and refuses
            (DataError) outputs that differ by more than 1e-5 of their scale, i.e. a recipe
            that computes something else with the same parameter names and shapes (another
            activation, say).
        num_classes, batch_size: as for :class:`~miaudit.targets.TorchTarget`.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        fmt: str,
        path: Path,
        output: str = "logits",
        explicit: bool = False,
        parameters_note: str | None = None,
        reference: nn.Module | None = None,
        num_classes: int | None = None,
        batch_size: int = 4096,
    ) -> None:
        super().__init__(module, num_classes=num_classes, batch_size=batch_size)
        if output == "probabilities" and parameters_note is None:
            parameters_note = PROBS_NO_PARAMETERS
        caps = {"probabilities", "labels", "loss"}
        if output == "logits":
            caps.add("logits")
        if parameters_note is None:
            caps.add("parameters")
        self.capabilities = frozenset(caps)
        self.parameters_note = parameters_note
        self.format = fmt
        self.path = path
        self.output = output
        self._explicit = explicit
        self._reference = reference

    def _forward(self, x: np.ndarray) -> np.ndarray:
        out = super()._forward(x)
        if self._reference is not None and x.shape[0] > 0:
            saved = TorchTarget(self._reference, num_classes=self._num_classes)._forward(x)
            scale = max(1.0, float(np.abs(saved).max()))
            diff = float(np.abs(out - saved).max()) if out.shape == saved.shape else np.inf
            if diff > 1e-5 * scale:
                raise DataError(
                    f"the model recipe computes other outputs than {self.path.name} (largest "
                    f"difference {diff:.3g} on the first records queried): give the recipe the "
                    "file was saved from, or leave model: out"
                )
            self._reference = None
        return out

    @property
    def description(self) -> str:
        return f"{self.format} {self.path.name}"

    def _logits(self, x: np.ndarray) -> np.ndarray:
        return check_answers(self._forward(x), "logits", self._explicit, self.description)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        if self.output == "logits":
            return super()._proba(x)
        return check_answers(self._forward(x), "probabilities", True, self.description)
