"""The devices of a config run, resolved once before any data are loaded (issue 11 part 4).

A torch recipe's ``device`` is "cpu" (default), "cuda" or "auto" (CUDA when
``torch.cuda.is_available()``, else the CPU): ``target.device`` for the target (and the
target's training-time defense), ``reference.device`` for the reference/shadow models
(default: the target's). Each is resolved here to "cpu" or "cuda" (a training-time defense
that trains on the CPU only reads "auto" as the CPU and refuses "cuda"), the resolved value
is what trains, and results.json records both under ``devices``. "cuda" on a machine
without CUDA is refused with one line, before the data set is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from miaudit.defenses import DEFENSES
from miaudit.errors import ConfigError, short_repr
from miaudit.models import MODELS, resolve_device
from miaudit.models._factory import DEVICES
from miaudit.pipeline.config import AuditConfig


@dataclass(frozen=True)
class DeviceChoice:
    """A recipe's ``device``: as the config asked for it, and what it trains on."""

    requested: str
    resolved: str

    def to_dict(self) -> dict[str, str]:
        return {"requested": self.requested, "resolved": self.resolved}


def check_device(value: Any, where: str) -> str:
    """``value`` when it is one of cpu, cuda, auto; ConfigError naming ``where`` otherwise."""
    if value not in DEVICES:
        raise ConfigError(
            f"{where}: unknown device {short_repr(value)}; valid: {', '.join(DEVICES)}"
        )
    return str(value)


def _torch(model: str) -> bool:
    return MODELS.get(model).build is not None


def _training_defense(config: AuditConfig) -> Any:
    """The class of the target's training-time defense, or None."""
    spec = config.target.defense
    if spec is None:
        return None
    cls = DEFENSES.get(str(spec["name"]))
    return cls if cls.kind == "training" else None


def _resolve(requested: str, defense: Any, where: str) -> DeviceChoice:
    device = requested if defense is None else defense.training_device(requested)
    try:
        return DeviceChoice(requested, resolve_device(device))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def resolve_devices(config: AuditConfig) -> dict[str, DeviceChoice]:
    """The run's devices: ``"target"`` for a torch target, ``"reference"`` for torch
    reference models (a ``reference.train_fn`` decides its own device: no entry).

    Raises:
        ConfigError: an unknown device, "cuda" without CUDA, or "cuda" with a defense
        that trains on the CPU only.
    """
    out: dict[str, DeviceChoice] = {}
    target_requested = "cpu"
    defense = _training_defense(config)
    external = config.target.external
    if external == "path" or (external is None and _torch(config.target.model)):
        # a saved model loads on its section's device (ONNX and skops: the CPU only)
        target_requested = check_device(config.target.params.get("device", "cpu"), "target")
        out["target"] = _resolve(target_requested, defense, "target.device")
    ref = config.reference
    if ref.train_fn is not None:
        return out
    model = config.target.model if ref.model is None else str(ref.model["model"])
    if model is None or not _torch(model):  # an external target without reference.model
        return out
    # reference.device, else reference.model's own device, else the target's (config
    # parsing refuses the first two when they disagree)
    own = (ref.model or {}).get("device", target_requested)
    requested = check_device(own if ref.device is None else ref.device, "reference")
    # the defense-aware reference models of the target's own recipe train with its defense
    aware = defense if ref.defense_aware and ref.model is None else None
    out["reference"] = _resolve(requested, aware, "reference.device")
    return out


def with_device(params: dict[str, Any], choice: DeviceChoice | None) -> dict[str, Any]:
    """``params`` with the resolved device (unchanged without a choice: not a torch recipe)."""
    return dict(params) if choice is None else {**params, "device": choice.resolved}
