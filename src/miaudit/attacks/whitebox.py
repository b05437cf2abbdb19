"""White-box attacks of Nasr, Shokri, Houmansadr 2019, "Comprehensive Privacy Analysis of Deep
Learning: Passive and Active White-box Inference Attacks against Centralized and Federated
Learning" (IEEE S&P): the gradient-norm signal and their attack network.

* ``gradient_norm``: score = -||grad_theta L(f(x; theta), y)||. Nasr et al. observe in their
  experiments (the figures comparing the gradient norms of members and non-members of the
  target model) that the norm of a record's loss gradient is smaller for members than for
  non-members: training drove the members' gradients towards zero. No attack training and
  no reference models. (Section/figure numbers are not cited here because they were not
  checked against the paper's final version.)
* ``nasr_whitebox``: their supervised passive attack (sec. IV): a network reading per-layer
  activations, per-layer gradients, the loss and the label (:mod:`miaudit.models.nasr`),
  trained on white-box features of records whose membership the attacker knows.

Both score with the target's parameters (``access = "white-box"``): the pipeline calls
``score_records(target, x, y)`` with the full target, whose torch module is found through
:func:`torch_module`. Torch and the feature code are imported lazily so that importing
``miaudit.attacks`` stays NumPy-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from miaudit.attacks.base import (
    Attack,
    AttackerKnowledge,
    Needs,
    ThreatModel,
    When,
    register_attack,
)
from miaudit.errors import ConfigError, DataError
from miaudit.validation import Interval

if TYPE_CHECKING:
    from torch import nn

    from miaudit.models.nasr import NasrFeatures, TrainedNasr
    from miaudit.targets import Target

NASR = (
    "Nasr, Shokri, Houmansadr 2019, Comprehensive Privacy Analysis of Deep Learning: Passive "
    "and Active White-box Inference Attacks against Centralized and Federated Learning "
    "(IEEE S&P)"
)


def torch_module(target: Any, attack: str) -> nn.Module:
    """The ``nn.Module`` behind a target: the target itself, its ``module`` attribute
    (:class:`~miaudit.targets.TorchTarget`), or that of a wrapped ``target`` (wrappers keep the
    wrapped target in ``.target``)."""
    from torch import nn

    seen = 0
    obj = target
    while obj is not None and seen < 10:
        if isinstance(obj, nn.Module):
            return obj
        module = getattr(obj, "module", None)
        if isinstance(module, nn.Module):
            return module
        obj = getattr(obj, "target", None)
        seen += 1
    raise DataError(
        f"{attack} is a white-box attack: it needs a torch model (TorchTarget), got "
        f"{getattr(target, 'description', type(target).__name__)}"
    )


@register_attack
class GradientNorm(Attack):
    """Score = -||dL/dtheta|| of each record's loss under the target (Nasr et al. 2019,
    experiments: members have smaller gradient norms).

    Per-record gradients are computed with ``torch.func`` in eval mode
    (:func:`miaudit.signals.gradients.per_sample_gradient_norms`), batch by batch.

    Args:
        layer: None = the norm over all parameters; else the name of one layer (a module
            owning parameters, e.g. ``"net.3"`` for miaudit's MLP, weight and bias together)
            or of one parameter (``"net.3.weight"``).
        batch_size: records per vectorised gradient pass.

    Fitted attributes (set by ``score_records``, for reporting): ``layer_norms_`` maps every
    layer name to its per-record gradient norms (n,) on the last scored records, and
    ``total_norm_`` the norm over all parameters.
    """

    name = "gradient_norm"
    requires = Needs(access="white-box")
    threat_model = ThreatModel(
        knowledge="white-box",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=NASR,
    )

    param_constraints = {"batch_size": Interval(int, 1)}

    def __init__(self, *, layer: str | None = None, batch_size: int = 128) -> None:
        self.layer = layer
        self.batch_size = batch_size

    def fit(self, knowledge: AttackerKnowledge) -> GradientNorm:
        """Nothing to learn; checks the parameters (and the layer, given the target)."""
        self.check_params()
        if knowledge.target is not None and self.layer is not None:
            self._params(torch_module(knowledge.target, self.name))
        super().fit(knowledge)
        return self

    def _params(self, module: nn.Module) -> list[str] | None:
        """The parameter names the score differentiates (None = all)."""
        from miaudit.signals.gradients import layer_name, parameter_names

        if self.layer is None:
            return None
        names = parameter_names(module)
        chosen = [n for n in names if n == self.layer or layer_name(n) == self.layer]
        if not chosen:
            layers = list(dict.fromkeys(layer_name(n) for n in names))
            raise ConfigError(
                f"gradient_norm: unknown layer {self.layer!r}; valid layers: "
                f"{', '.join(layers)} (or a parameter name: {', '.join(names)})"
            )
        return chosen

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from miaudit.signals.gradients import per_sample_gradient_norms

        module = torch_module(target, self.name)
        total, per_layer = per_sample_gradient_norms(
            module, x, y, per_layer=True, batch_size=self.batch_size
        )
        self.total_norm_ = total
        self.layer_norms_ = per_layer
        if self.layer is None:
            norm = total
        else:
            params = self._params(module)
            norm, _ = per_sample_gradient_norms(
                module, x, y, per_layer=False, batch_size=self.batch_size, params=params
            )
        return -norm


KnowledgeSetting = Literal["shadow", "partial"]


def _shadow_seed(seed: int) -> int:
    """The shadow model's training seed, derived from the audit seed so that it differs from
    it (a target trained with the audit seed would otherwise share the shadow's initial
    weights, an advantage a real attacker does not have)."""
    return int(np.random.default_rng([int(seed), 0x4E415352]).integers(2**31 - 1))


@register_attack
class NasrWhitebox(Attack):
    """Nasr et al. 2019's supervised passive white-box attack (sec. IV, Fig. 3).

    Features of a record under a model (:func:`miaudit.models.nasr.nasr_features`): outputs
    of the last ``activation_layers`` Linear/Conv layers, loss gradients w.r.t. the weights of
    the last ``gradient_layers`` ones, the loss and the one-hot label. The attack network
    (:class:`miaudit.models.nasr.NasrAttackModel`) is trained with Adam on features of known
    members (label 1) and non-members (label 0), then scores the audited records under the
    target's parameters.

    Where the labelled training features come from (``knowledge_setting``):

    * ``"shadow"`` (the paper's attacker without member knowledge, sec. IV / the shadow
      training of Shokri et al.): the attacker's population records (``population_data``) are
      split at random (seeded) into two halves; a shadow model is trained with the reference
      recipe (``knowledge.train_model``, seed derived from ``knowledge.seed``) on the
      first; its features on the first half are the members, on the second the non-members.
      Needs a reference recipe of the target's architecture.
    * ``"partial"`` (the paper's main setting: the attacker knows a subset of the target's
      training set, sec. IV "supervised"): features under the *target itself* of
      ``known_members`` (records given to the constructor, for Python API users; not
      expressible in a YAML config) and of the population records (known non-members).
      Results on audited records that are among ``known_members`` are optimistic (the attack
      was trained on them); audit disjoint records.

    Score: the attack network's log-odds of P(member) (monotone in the probability,
    sigmoid(score) = P(member), without saturating to 1.0 in float); ``threshold_`` = 0, the
    P = 0.5 decision.

    Args:
        knowledge_setting: "shadow" or "partial" (above).
        known_members: ``(x, y)`` of known members of the target, for "partial".
        activation_layers: number of last Linear/Conv layers whose outputs are used.
        gradient_layers: number of last Linear/Conv layers whose weight gradients are used.
        epochs, batch_size, lr: Adam training of the attack network.
        width, filters: size of the attack network's components.
        max_train_records: use at most this many records per class (member / non-member)
            to train (seeded subsample; bounds memory for gradient features).
    """

    name = "nasr_whitebox"
    requires = Needs(
        access="white-box", population_data=True, recipe=When("knowledge_setting", "shadow")
    )
    threat_model = ThreatModel(
        knowledge="white-box",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=NASR,
    )

    param_constraints = {
        "activation_layers": Interval(int, 0),
        "gradient_layers": Interval(int, 0),
        "epochs": Interval(int, 1),
        "batch_size": Interval(int, 1),
        "lr": Interval(float, 0, closed="neither"),
        "width": Interval(int, 2),
        "filters": Interval(int, 1),
        "max_train_records": Interval(int, 1),
    }

    def __init__(
        self,
        *,
        knowledge_setting: KnowledgeSetting = "shadow",
        known_members: tuple[np.ndarray, np.ndarray] | None = None,
        activation_layers: int = 2,
        gradient_layers: int = 1,
        epochs: int = 30,
        batch_size: int = 64,
        lr: float = 1e-3,
        width: int = 64,
        filters: int = 16,
        max_train_records: int = 5000,
    ) -> None:
        self.knowledge_setting = knowledge_setting
        self.known_members = known_members
        self.activation_layers = activation_layers
        self.gradient_layers = gradient_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.width = width
        self.filters = filters
        self.max_train_records = max_train_records

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters; ``known_members`` reported by its size, not its records."""
        params = super().get_params()
        if self.known_members is not None:
            params["known_members"] = f"<{len(self.known_members[1])} records>"
        return params

    def _features(self, module: nn.Module, x: np.ndarray, y: np.ndarray, c: int) -> NasrFeatures:
        from miaudit.models.nasr import nasr_features

        return nasr_features(
            module,
            x,
            y,
            num_classes=c,
            activation_layers=self.activation_layers,
            gradient_layers=self.gradient_layers,
        )

    def _cap(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of at most ``max_train_records`` of n records (seeded), in order."""
        if n <= self.max_train_records:
            return np.arange(n)
        return np.sort(rng.choice(n, size=self.max_train_records, replace=False))

    def fit(self, knowledge: AttackerKnowledge) -> NasrWhitebox:
        """Build the labelled white-box features (shadow or partial) and train the network."""
        from miaudit.models.nasr import concat_features, train_nasr

        self.check_params()
        c = knowledge.num_classes
        if knowledge.population_data is None:
            raise DataError(
                "nasr_whitebox: needs the attacker's population records (population_data) "
                "as non-members; run it through miaudit.audit or pass "
                "AttackerKnowledge(population_data=...)"
            )
        px, py = (np.asarray(a) for a in knowledge.population_data)
        rng = np.random.default_rng(knowledge.seed)
        if self.knowledge_setting == "shadow":
            if knowledge.train_model is None:
                raise DataError(
                    "nasr_whitebox (shadow): needs a reference recipe to train a shadow model "
                    "(knowledge.train_model; set reference.model in the audit)"
                )
            if len(py) < 4:
                raise DataError("nasr_whitebox (shadow): needs at least 4 population records")
            order = rng.permutation(len(py))
            half = len(py) // 2
            in_idx, out_idx = np.sort(order[:half]), np.sort(order[half:])
            shadow = knowledge.train_model(px[in_idx], py[in_idx], _shadow_seed(knowledge.seed))
            module = torch_module(shadow, self.name)
            in_idx = in_idx[self._cap(len(in_idx), rng)]
            out_idx = out_idx[self._cap(len(out_idx), rng)]
            f_in = self._features(module, px[in_idx], py[in_idx], c)
            f_out = self._features(module, px[out_idx], py[out_idx], c)
        else:
            if self.known_members is None:
                raise ConfigError(
                    "nasr_whitebox (partial): pass known_members=(x, y), records known to be "
                    "in the target's training set"
                )
            if knowledge.target is None:
                raise DataError(
                    "nasr_whitebox (partial): needs the target (knowledge.target) to compute "
                    "the known members' features"
                )
            mx, my = (np.asarray(a) for a in self.known_members)
            if len(mx) != len(my) or len(my) == 0:
                raise DataError("nasr_whitebox (partial): known_members must be a non-empty (x, y)")
            module = torch_module(knowledge.target, self.name)
            keep_in = self._cap(len(my), rng)
            keep_out = self._cap(len(py), rng)
            f_in = self._features(module, mx[keep_in], my[keep_in], c)
            f_out = self._features(module, px[keep_out], py[keep_out], c)
        features = concat_features([f_in, f_out])
        member = np.r_[np.ones(f_in.n, bool), np.zeros(f_out.n, bool)]
        self.attack_model_: TrainedNasr = train_nasr(
            features,
            member,
            seed=knowledge.seed,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=float(self.lr),
            width=self.width,
            filters=self.filters,
        )
        self.n_train_members_ = f_in.n
        self.n_train_nonmembers_ = f_out.n
        self.train_loss_ = self.attack_model_.final_loss
        super().fit(knowledge)
        self.threshold_ = 0.0
        return self

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        module = torch_module(target, self.name)
        features = self._features(module, np.asarray(x), np.asarray(y), self.num_classes_)
        return self.attack_model_.logits(features)
