"""White-box signals of torch models: per-record gradients and layer activations.

These are the features of the white-box attacks (Nasr, Shokri, Houmansadr 2019, "Comprehensive
Privacy Analysis of Deep Learning", IEEE S&P, sec. IV: per-layer activations, per-layer
gradients of the loss, the loss and the label) and of the gradient-norm attack. They live in
``signals/`` because they need torch (DESIGN.md: attacks work on NumPy arrays).

Per-record gradients are vectorised with ``torch.func`` (``functional_call`` + ``vmap(grad)``),
the technique Opacus and functorch use: the loss of ONE record is differentiated with respect
to the parameters, and ``vmap`` maps that over the records of a batch, so a batch costs about
one batched backward pass instead of a Python loop of ``loss.backward()``.

Conventions shared by every function here:

* The module runs in **eval mode** (no dropout, batch-norm running statistics), as the target
  answers queries; its train/eval mode is restored afterwards and it is never modified.
* Records are converted to the dtype and device of the module's floating parameters.
* The loss is the cross-entropy of the logits with the integer label (``reduction="sum"`` over
  a single record, i.e. the record's own loss).
* A *layer* is a module owning parameters directly (e.g. ``net.1``, an ``nn.Linear``); its
  parameters are named ``<layer>.weight`` / ``<layer>.bias`` as in ``named_parameters``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from miaudit.errors import DataError
from miaudit.validation import check_int

#: Layers whose outputs are the activations (Nasr et al. 2019 use each layer's output).
ACTIVATION_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _dtype_device(module: nn.Module) -> tuple[torch.dtype, torch.device]:
    params = [p for p in module.parameters() if p.is_floating_point()]
    if not params:
        raise DataError(f"{type(module).__name__} has no floating-point parameters to audit")
    return params[0].dtype, params[0].device


def _as_tensors(
    module: nn.Module, x: np.ndarray, y: np.ndarray | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    dtype, device = _dtype_device(module)
    x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"records must have shape (n, ...) with n >= 0, got {x.shape}")
    xt = torch.as_tensor(np.ascontiguousarray(x)).to(device=device, dtype=dtype)
    if y is None:
        return xt, None
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise DataError(f"mismatched lengths: {x.shape[0]} records but labels of shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
    return xt, torch.as_tensor(y.astype(np.int64)).to(device)


def _check_batch_size(batch_size: int) -> None:
    check_int(batch_size, "batch_size", low=1, error=DataError)


def layer_name(param_name: str) -> str:
    """The layer owning a parameter: ``"net.1.weight" -> "net.1"`` (``""`` for a root one)."""
    return param_name.rpartition(".")[0]


def parameter_names(module: nn.Module) -> list[str]:
    """Names of the trainable parameters of ``module``, in ``named_parameters`` order."""
    return [n for n, p in module.named_parameters() if p.requires_grad]


def _per_sample_grad_fn(
    module: nn.Module, names: Sequence[str]
) -> tuple[object, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``vmap(grad(loss))`` over records, differentiating only the parameters ``names``."""
    all_params = {n: p.detach() for n, p in module.named_parameters()}
    unknown = sorted(set(names) - set(all_params))
    if unknown:
        raise DataError(
            f"unknown parameter(s) {unknown}; valid: {', '.join(parameter_names(module))}"
        )
    wrt = {n: all_params[n] for n in names}
    fixed = {n: p for n, p in all_params.items() if n not in wrt}
    fixed.update({n: b.detach() for n, b in module.named_buffers()})

    def record_loss(
        params: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor
    ) -> torch.Tensor:
        logits = functional_call(module, {**params, **fixed}, (xi.unsqueeze(0),))
        return F.cross_entropy(logits, yi.unsqueeze(0), reduction="sum")

    return vmap(grad(record_loss), in_dims=(None, 0, 0)), wrt, fixed


def _batches(n: int, batch_size: int) -> range:
    return range(0, n, batch_size)


class _EvalMode:
    """Context manager: eval mode inside, the module's previous mode restored afterwards."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.was_training = module.training

    def __enter__(self) -> nn.Module:
        self.module.eval()
        return self.module

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)


def per_sample_gradients(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 128,
    params: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Gradient of each record's loss with respect to the parameters.

    grad_theta L(f(x_i; theta), y_i) for every record i (Nasr et al. 2019, sec. IV, the
    attack's gradient features), computed with ``vmap(grad(.))`` in eval mode.

    Args:
        module: the torch model mapping a batch of records to logits.
        x: records (n, ...).
        y: integer labels (n,).
        batch_size: records per vectorised pass (memory grows with batch_size times the
            number of parameters differentiated).
        params: names of the parameters to differentiate (``named_parameters`` names);
            None = every trainable parameter. The others are held fixed.

    Returns:
        ``{parameter name: array (n, *parameter.shape)}`` in the module's dtype (float32
        for miaudit's models), in ``named_parameters`` order.
    """
    _check_batch_size(batch_size)
    names = list(parameter_names(module) if params is None else params)
    xt, yt = _as_tensors(module, x, y)
    assert yt is not None
    n = xt.shape[0]
    out: dict[str, list[np.ndarray]] = {name: [] for name in names}
    with _EvalMode(module):
        fn, wrt, _ = _per_sample_grad_fn(module, names)
        for start in _batches(n, batch_size):
            g = fn(wrt, xt[start : start + batch_size], yt[start : start + batch_size])  # type: ignore[operator]
            for name in names:
                out[name].append(g[name].detach().cpu().numpy())
    return {
        name: np.concatenate(parts)
        if parts
        else np.zeros((0, *wrt[name].shape), dtype=wrt[name].cpu().numpy().dtype)
        for name, parts in out.items()
    }


def per_sample_gradient_norms(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    per_layer: bool = True,
    batch_size: int = 128,
    params: Sequence[str] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """L2 norm of each record's loss gradient, overall and per layer.

    The per-record gradients of one batch are reduced to squared norms before the next
    batch is computed, so memory is bounded by ``batch_size`` gradients, never n.

    Args:
        module, x, y, batch_size, params: as :func:`per_sample_gradients`.
        per_layer: also return the norm of each layer's gradient (weight and bias together).

    Returns:
        ``(total, per_layer_norms)``: ``total`` float64 (n,) = ||grad_theta L|| over the
        differentiated parameters; ``per_layer_norms`` maps layer name (see
        :func:`layer_name`) to float64 (n,) norms, in parameter order (empty when
        ``per_layer`` is False). sum over layers of their squares = ``total ** 2``.
    """
    _check_batch_size(batch_size)
    names = list(parameter_names(module) if params is None else params)
    xt, yt = _as_tensors(module, x, y)
    assert yt is not None
    n = xt.shape[0]
    layers = list(dict.fromkeys(layer_name(name) for name in names))
    sq = {layer: np.zeros(n, dtype=np.float64) for layer in layers}
    with _EvalMode(module):
        fn, wrt, _ = _per_sample_grad_fn(module, names)
        for start in _batches(n, batch_size):
            stop = min(start + batch_size, n)
            g = fn(wrt, xt[start:stop], yt[start:stop])  # type: ignore[operator]
            for name in names:
                flat = g[name].detach().reshape(stop - start, -1).to(torch.float64)
                sq[layer_name(name)][start:stop] += (flat * flat).sum(dim=1).cpu().numpy()
    total = np.sqrt(np.sum([sq[layer] for layer in layers], axis=0)) if layers else np.zeros(n)
    per = {layer: np.sqrt(v) for layer, v in sq.items()} if per_layer else {}
    return np.asarray(total, dtype=np.float64), per


def activation_layer_names(module: nn.Module) -> list[str]:
    """Names of the Linear/Conv sub-modules of ``module``, in registration order."""
    return [name for name, m in module.named_modules() if isinstance(m, ACTIVATION_LAYERS)]


def layer_activations(
    module: nn.Module, x: np.ndarray, *, batch_size: int = 512
) -> list[np.ndarray]:
    """Outputs of every Linear/Conv layer on the records (Nasr et al. 2019, sec. IV).

    Forward hooks record each layer's output (pre-activation, i.e. before the non-linearity
    that follows it) in eval mode under ``torch.no_grad``; the last entry of a classifier
    ending in ``nn.Linear`` is therefore its logits.

    Returns:
        one array (n, *layer output shape) per layer, in the order of
        :func:`activation_layer_names` (module registration order, which is the forward order
        of miaudit's MLP and CNN).
    """
    _check_batch_size(batch_size)
    names = activation_layer_names(module)
    if not names:
        raise DataError(f"{type(module).__name__} has no Linear/Conv layers to read")
    xt, _ = _as_tensors(module, x, None)
    n = xt.shape[0]
    if n == 0:
        raise DataError("no records to compute activations on")
    modules = dict(module.named_modules())
    captured: dict[str, list[np.ndarray]] = {name: [] for name in names}

    def hook_for(name: str) -> Callable[[nn.Module, object, torch.Tensor], None]:
        def hook(_m: nn.Module, _inp: object, output: torch.Tensor) -> None:
            captured[name].append(output.detach().cpu().numpy())

        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in names]
    try:
        with _EvalMode(module), torch.no_grad():
            for start in _batches(n, batch_size):
                module(xt[start : start + batch_size])
    finally:
        for h in handles:
            h.remove()
    if n == 0:
        raise DataError("no records to compute activations on")
    return [np.concatenate(captured[name]) for name in names]


def per_sample_losses(
    module: nn.Module, x: np.ndarray, y: np.ndarray, *, batch_size: int = 512
) -> np.ndarray:
    """Cross-entropy loss of each record, float64 (n,), in eval mode."""
    _check_batch_size(batch_size)
    xt, yt = _as_tensors(module, x, y)
    assert yt is not None
    parts: list[np.ndarray] = []
    with _EvalMode(module), torch.no_grad():
        for start in _batches(xt.shape[0], batch_size):
            logits = module(xt[start : start + batch_size])
            loss = F.cross_entropy(logits, yt[start : start + batch_size], reduction="none")
            parts.append(loss.to(torch.float64).cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros(0)
