"""The defense contract: training-time defenses produce a trained model, inference-time
defenses wrap a Target (DESIGN.md; the survey's section 5).

A defense is a configuration object: its keyword-only constructor only stores parameters.
Training-time defenses implement :meth:`Defense.train` (same inputs as
:func:`miaudit.models.train_model`, so reference/shadow models can be trained with the same
defense); inference-time defenses implement :meth:`Defense.wrap`. After training or
wrapping, :meth:`Defense.report` gives what ``results.json`` records under
``target.defense`` (name, parameters, and measured values such as DP's epsilon).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from miaudit.errors import ConfigError
from miaudit.models import ModelLike
from miaudit.registry import Registry
from miaudit.targets import Target
from miaudit.validation import Constraints, validate_instance, validate_params

DefenseKind = Literal["training", "inference"]


@dataclass(frozen=True)
class DefenseData:
    """Data a defense may use besides the training set.

    Attributes:
        reference: the defender's own extra records ``(x, y)``, disjoint from the training
            set and from the audited non-members (distillation's reference set, adversarial
            regularisation's and MemGuard's reference non-members, model stacking's parts).
            None when the audit gives the defender none.
    """

    reference: tuple[np.ndarray, np.ndarray] | None = None


class Defense:
    """Base class of every membership-inference defense."""

    name: ClassVar[str]
    kind: ClassVar[DefenseKind]
    paper: ClassVar[str]
    #: the parameter a trade-off sweep varies (e.g. "noise_multiplier", "budget")
    strength_param: ClassVar[str | None] = None
    #: True when the defense needs the defender's reference records
    #: (``DefenseData.reference``: records disjoint from the training set)
    needs_reference: ClassVar[bool] = False
    #: ranges and choices of the constructor's parameters (:mod:`miaudit.validation`); their
    #: types come from the constructor's type hints. Checked when a defense is built from a
    #: name or a config, and again when it trains or wraps.
    param_constraints: ClassVar[dict[str, Constraints]] = {}
    #: True for an inference-time defense that changes the released scores but keeps every
    #: predicted label (label-only attacks are unaffected by it by design; the report says so)
    preserves_labels: ClassVar[bool] = False
    #: what the defense does to the released outputs, in a few words after its name
    #: ("adds crafted noise to the confidence scores"); None for training-time defenses
    output_effect: ClassVar[str | None] = None
    #: training-time defenses: True when :meth:`train` runs on the recipe's device (every
    #: tensor and module of its loop on the module's device), so a torch recipe's ``device:
    #: cuda`` is honoured; False (the default, for a defense whose loop may create tensors on
    #: the CPU): it trains on the CPU (``cuda`` is refused, ``auto`` is cpu). Every built-in
    #: training-time defense sets it (issue 11).
    cuda_training: ClassVar[bool] = False
    #: True when the training algorithm is differentially private (its report then carries
    #: the accountant's epsilon and delta, and the report shows a privacy-budget row)
    differentially_private: ClassVar[bool] = False

    @classmethod
    def training_device(cls, device: Any) -> Any:
        """The ``device`` a module factory trains on under this defense: as given with
        ``cuda_training``; otherwise (the defense's own loop runs on the CPU) "auto" is
        "cpu" and "cuda" a ConfigError."""
        if cls.cuda_training or device not in ("auto", "cuda"):
            return device
        if device == "cuda":
            raise ConfigError(
                f"defense {cls.name!r} trains on the CPU only; use device 'cpu' (or 'auto', "
                "which trains it on the CPU)"
            )
        return "cpu"

    def check_params(self) -> None:
        """ConfigError unless every parameter has its declared type and range."""
        validate_instance(self, kind="defense")

    def train(
        self,
        model: ModelLike,
        params: dict[str, Any],
        x: np.ndarray,
        y: np.ndarray,
        *,
        num_classes: int,
        seed: int,
        data: DefenseData = DefenseData(),
        progress: bool = False,
    ) -> Target:
        """Train a defended model (training-time defenses).

        ``model`` is a registered model name or a module factory (a callable with no
        arguments returning a fresh torch ``nn.Module``); ``params`` its parameters, as for
        :func:`miaudit.models.train_model`."""
        raise ConfigError(f"defense {self.name!r} is applied at inference time; use wrap()")

    def wrap(
        self,
        target: Target,
        *,
        train: tuple[np.ndarray, np.ndarray],
        seed: int,
        data: DefenseData = DefenseData(),
    ) -> Target:
        """Wrap a trained target (inference-time defenses)."""
        raise ConfigError(f"defense {self.name!r} is applied at training time; use train()")

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def report(self) -> dict[str, Any]:
        """Name, parameters and measured values (fitted attributes ending in ``_`` that are
        plain numbers, e.g. ``epsilon_``), for results.json's ``target.defense``."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "paper": self.paper}
        out["params"] = self.get_params()
        for k, v in vars(self).items():
            if k.endswith("_") and isinstance(v, (int, float, str, bool)):
                out[k.rstrip("_")] = v
        return out


DEFENSES: Registry[type[Defense]] = Registry("defense")


def register_defense(cls: type[Defense]) -> type[Defense]:
    """Class decorator: register a defense under its ``name``."""
    return DEFENSES.register(cls.name)(cls)


def make_defense(name: str, **params: Any) -> Defense:
    """Instantiate a registered defense by name (ConfigError for bad parameters, checked
    against the defense's declared types and ranges before it is built)."""
    cls = DEFENSES.get(name)
    validate_params(cls, params, kind="defense", name=name)
    return cls(**params)
