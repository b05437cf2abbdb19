"""The attack network of Nasr, Shokri, Houmansadr 2019, "Comprehensive Privacy Analysis of Deep
Learning: Passive and Active White-box Inference Attacks against Centralized and Federated
Learning" (IEEE S&P), sec. IV ("Attack model") and their Fig. 3 / Appendix (architecture).

The attack model f_attack reads, for one record (x, y) and the model under attack f:

* the output of each layer h_i(x) (activation components, fully connected),
* the gradient of the loss with respect to each layer's weights dL/dW_i (gradient components;
  convolutional for the gradient *matrix* of a fully connected layer),
* the loss L(f(x), y) (loss component, fully connected),
* the one-hot true label y (label component, fully connected),

passes each through its own small network, concatenates their outputs and feeds them to a fully
connected encoder that outputs the membership probability (the paper's "attack encoder"; the
paper also trains an unsupervised auto-encoder on it, not done here).

Choices (documented here because they differ from, or are unspecified by, the paper):

* Widths: the paper's components are wide (e.g. 1000 convolution filters and FC 2024-512-256
  for a gradient matrix, FC 128-64 for activations, encoder 256-128-64-1, as in the authors'
  reference implementation in ML Privacy Meter). Here every component is ``width``-wide (default
  64) with ``filters`` convolution kernels (default 16): our targets and data are small and the
  audit trains on CPU.
* Gradient of a ``nn.Linear`` weight W (out x in, torch's layout): a 1-channel "image" of shape
  (out, in), convolved by ``filters`` kernels of size (1, in), i.e. each kernel spans the whole
  input dimension and produces one value per output neuron (the paper's convolution over the
  gradient matrix), then ReLU, flatten, FC. Gradients of convolution kernels (4-D) are
  flattened and passed through FC layers. Bias gradients are not used (the paper uses the
  weight gradients).
* Input scaling: each feature group is standardised with statistics of the attack's training
  set (:class:`FeatureScaler`): activations, loss per feature (mean/std), gradients by one scalar
  per layer (their root mean square), which keeps the gradient matrix structure the convolution
  reads. Without it the loss and gradient components differ by orders of magnitude.
* No dropout; Adam with a small weight decay; class-balanced binary cross-entropy.
* The attack network is tiny, so it trains and predicts with one torch thread
  (:func:`_one_thread`, the caller's setting is restored): intra-op parallelism only adds
  synchronisation, and on a loaded 2-core machine it made training ~100x slower.
* Activations are the layers' outputs *before* the non-linearity that follows them (forward
  hooks on the Linear/Conv modules, see :func:`miaudit.signals.gradients.layer_activations`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from miaudit.errors import DataError
from miaudit.signals.gradients import (
    activation_layer_names,
    layer_activations,
    per_sample_gradients,
    per_sample_losses,
)


@dataclass(frozen=True)
class NasrFeatures:
    """White-box features of n records under one model (Nasr et al. 2019, sec. IV).

    Attributes:
        activations: per selected layer, its outputs flattened, float32 (n, d_l).
        gradients: per selected layer, the loss gradient w.r.t. its weight, float32
            (n, *weight.shape).
        loss: float32 (n,) cross-entropy losses.
        labels: int64 (n,) true labels.
        num_classes: C (width of the one-hot label component).
    """

    activations: tuple[np.ndarray, ...]
    gradients: tuple[np.ndarray, ...]
    loss: np.ndarray
    labels: np.ndarray
    num_classes: int

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def layout(self) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
        """(activation widths, gradient shapes): what the attack network is built for."""
        return (
            tuple(int(a.shape[1]) for a in self.activations),
            tuple(tuple(int(s) for s in g.shape[1:]) for g in self.gradients),
        )

    def subset(self, index: np.ndarray) -> NasrFeatures:
        return NasrFeatures(
            activations=tuple(a[index] for a in self.activations),
            gradients=tuple(g[index] for g in self.gradients),
            loss=self.loss[index],
            labels=self.labels[index],
            num_classes=self.num_classes,
        )


def concat_features(parts: Sequence[NasrFeatures]) -> NasrFeatures:
    """Stack features of consecutive record sets computed under the same layout."""
    if len({p.layout() for p in parts}) != 1:
        raise DataError("cannot stack white-box features of models with different layers")
    return NasrFeatures(
        activations=tuple(
            np.concatenate(a) for a in zip(*(p.activations for p in parts), strict=True)
        ),
        gradients=tuple(np.concatenate(g) for g in zip(*(p.gradients for p in parts), strict=True)),
        loss=np.concatenate([p.loss for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        num_classes=parts[0].num_classes,
    )


def attacked_layers(module: nn.Module, count: int | None) -> list[str]:
    """The last ``count`` Linear/Conv layers of ``module`` (all of them when None)."""
    names = activation_layer_names(module)
    if not names:
        note = getattr(module, "layers_note", None)  # e.g. a TorchScript file's module
        raise DataError(
            f"{type(module).__name__} has no Linear/Conv layers to attack"
            + (f": {note}" if note else "")
        )
    if count is None:
        return names
    return names[-count:] if count > 0 else []


def nasr_features(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    activation_layers: int | None = 2,
    gradient_layers: int | None = 1,
    batch_size: int = 128,
) -> NasrFeatures:
    """Nasr et al.'s features of records ``(x, y)`` under ``module`` (eval mode).

    Args:
        activation_layers: use the outputs of the last k Linear/Conv layers (None: all).
        gradient_layers: use the weight gradients of the last k Linear/Conv layers (None:
            all; the gradient of a wide first layer is large: n x out x in floats).
    """
    y = np.asarray(y).astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"labels outside the classes 0..{num_classes - 1}")
    act_names = attacked_layers(module, activation_layers)
    grad_names = attacked_layers(module, gradient_layers)
    all_names = activation_layer_names(module)
    acts = layer_activations(module, x, batch_size=max(batch_size, 256)) if act_names else []
    activations = tuple(
        np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float32)
        for name, a in zip(all_names, acts, strict=True)
        if name in act_names
    )
    grads = (
        per_sample_gradients(
            module, x, y, batch_size=batch_size, params=[f"{n}.weight" for n in grad_names]
        )
        if grad_names
        else {}
    )
    loss = per_sample_losses(module, x, y).astype(np.float32)
    return NasrFeatures(
        activations=activations,
        gradients=tuple(g.astype(np.float32, copy=False) for g in grads.values()),
        loss=loss,
        labels=y,
        num_classes=int(num_classes),
    )


@dataclass(frozen=True)
class FeatureScaler:
    """Standardisation of each feature group, fitted on the attack's training features."""

    act_mean: tuple[np.ndarray, ...]
    act_std: tuple[np.ndarray, ...]
    grad_scale: tuple[float, ...]
    loss_mean: float
    loss_std: float

    @classmethod
    def fit(cls, f: NasrFeatures, floor: float = 1e-6) -> FeatureScaler:
        return cls(
            act_mean=tuple(a.mean(axis=0) for a in f.activations),
            act_std=tuple(np.maximum(a.std(axis=0), floor) for a in f.activations),
            grad_scale=tuple(
                max(float(np.sqrt(np.mean(np.square(g, dtype=np.float64)))), floor)
                for g in f.gradients
            ),
            loss_mean=float(f.loss.mean()),
            loss_std=max(float(f.loss.std()), floor),
        )

    def tensors(self, f: NasrFeatures) -> dict[str, list[torch.Tensor] | torch.Tensor]:
        """Scaled float32 tensors: activations, gradients, loss (n, 1), one-hot labels."""
        acts = [
            torch.from_numpy(((a - m) / s).astype(np.float32))
            for a, m, s in zip(f.activations, self.act_mean, self.act_std, strict=True)
        ]
        grads = [
            torch.from_numpy((g / s).astype(np.float32))
            for g, s in zip(f.gradients, self.grad_scale, strict=True)
        ]
        loss = torch.from_numpy(((f.loss - self.loss_mean) / self.loss_std).astype(np.float32))
        onehot = F.one_hot(torch.from_numpy(f.labels), f.num_classes).to(torch.float32)
        return {"activations": acts, "gradients": grads, "loss": loss[:, None], "labels": onehot}


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch with one intra-op thread inside, restoring the caller's setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fc(d_in: int, width: int) -> nn.Sequential:
    """The paper's small fully connected component: d_in -> width -> width/2, ReLU."""
    return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width // 2), nn.ReLU())


class _LinearGradientComponent(nn.Module):
    """Conv over a Linear layer's weight gradient (out x in): kernels (1, in), then FC."""

    def __init__(self, out_dim: int, in_dim: int, filters: int, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel_size=(1, in_dim))
        self.fc = _fc(filters * out_dim, width)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(g.unsqueeze(1)))  # (n, filters, out, 1)
        return self.fc(h.flatten(1))


class _FlatGradientComponent(nn.Module):
    """A convolution kernel's gradient, flattened, through FC layers (documented choice)."""

    def __init__(self, numel: int, width: int) -> None:
        super().__init__()
        self.fc = _fc(numel, width)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        return self.fc(g.flatten(1))


class NasrAttackModel(nn.Module):
    """Nasr et al. 2019's white-box attack network (sec. IV, Fig. 3); output: logit of
    P(member).

    Args:
        activation_dims: width of each activation feature.
        gradient_shapes: shape of each weight gradient (2-D: Linear, else flattened).
        num_classes: C, for the one-hot label component.
        width: width of the components and of the encoder.
        filters: convolution kernels of each Linear-gradient component.
    """

    def __init__(
        self,
        *,
        activation_dims: Sequence[int],
        gradient_shapes: Sequence[Sequence[int]],
        num_classes: int,
        width: int = 64,
        filters: int = 16,
    ) -> None:
        super().__init__()
        self.activation_components = nn.ModuleList(_fc(d, width) for d in activation_dims)
        grads: list[nn.Module] = []
        for shape in gradient_shapes:
            if len(shape) == 2:
                grads.append(_LinearGradientComponent(shape[0], shape[1], filters, width))
            else:
                grads.append(_FlatGradientComponent(int(np.prod(shape)), width))
        self.gradient_components = nn.ModuleList(grads)
        self.loss_component = _fc(1, width)
        self.label_component = _fc(num_classes, width)
        n_parts = len(activation_dims) + len(gradient_shapes) + 2
        self.encoder = nn.Sequential(
            nn.Linear(n_parts * (width // 2), width),
            nn.ReLU(),
            nn.Linear(width, width // 2),
            nn.ReLU(),
            nn.Linear(width // 2, 1),
        )

    def forward(
        self,
        activations: Sequence[torch.Tensor],
        gradients: Sequence[torch.Tensor],
        loss: torch.Tensor,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        parts = [c(a) for c, a in zip(self.activation_components, activations, strict=True)]
        parts += [c(g) for c, g in zip(self.gradient_components, gradients, strict=True)]
        parts += [self.loss_component(loss), self.label_component(labels)]
        return self.encoder(torch.cat(parts, dim=1)).squeeze(1)


def _index(t: dict[str, list[torch.Tensor] | torch.Tensor], idx: torch.Tensor) -> list:
    acts = [a[idx] for a in t["activations"]]  # type: ignore[union-attr]
    grads = [g[idx] for g in t["gradients"]]  # type: ignore[union-attr]
    return [acts, grads, t["loss"][idx], t["labels"][idx]]  # type: ignore[index]


@dataclass
class TrainedNasr:
    """A trained attack network with the scaler of its inputs."""

    model: NasrAttackModel
    scaler: FeatureScaler
    layout: tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]
    final_loss: float

    def logits(self, f: NasrFeatures, *, batch_size: int = 512) -> np.ndarray:
        """log-odds of P(member) for each record, float64 (n,)."""
        if f.layout() != self.layout:
            raise DataError(
                "the white-box features of the scored model do not match the attack model's "
                f"layers ({f.layout()} vs {self.layout}); attack a model of the same "
                "architecture as the shadow / known-member model"
            )
        t = self.scaler.tensors(f)
        out: list[np.ndarray] = []
        self.model.eval()
        with _one_thread(), torch.no_grad():
            for start in range(0, f.n, batch_size):
                idx = torch.arange(start, min(start + batch_size, f.n))
                out.append(self.model(*_index(t, idx)).to(torch.float64).numpy())
        return np.concatenate(out) if out else np.zeros(0)


def train_nasr(
    features: NasrFeatures,
    member: np.ndarray,
    *,
    seed: int,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    width: int = 64,
    filters: int = 16,
) -> TrainedNasr:
    """Train :class:`NasrAttackModel` on features of known members (1) and non-members (0).

    Adam on the class-balanced binary cross-entropy (positive weight = #non-members /
    #members). Deterministic on CPU for a given ``seed``: the weights are initialised inside
    ``torch.random.fork_rng`` seeded with ``seed`` and mini-batches come from a
    ``torch.Generator(seed)``.
    """
    member = np.asarray(member, dtype=bool)
    n_pos, n_neg = int(member.sum()), int((~member).sum())
    if n_pos == 0 or n_neg == 0:
        raise DataError(
            f"the attack model needs known members and non-members, got {n_pos} and {n_neg}"
        )
    scaler = FeatureScaler.fit(features)
    t = scaler.tensors(features)
    target = torch.from_numpy(member.astype(np.float32))
    act_dims, grad_shapes = features.layout()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = NasrAttackModel(
            activation_dims=act_dims,
            gradient_shapes=grad_shapes,
            num_classes=features.num_classes,
            width=width,
            filters=filters,
        )
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    pos_weight = torch.tensor(n_neg / n_pos)
    model.train()
    final = float("nan")
    with _one_thread():
        for _ in range(epochs):
            order = torch.randperm(features.n, generator=gen)
            total = 0.0
            for start in range(0, features.n, batch_size):
                idx = order[start : start + batch_size]
                opt.zero_grad()
                logit = model(*_index(t, idx))
                loss = F.binary_cross_entropy_with_logits(logit, target[idx], pos_weight=pos_weight)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            final = total / features.n
    model.eval()
    return TrainedNasr(model=model, scaler=scaler, layout=features.layout(), final_loss=final)
