"""The configuration of a generative-model audit (a YAML file with an ``images:`` section,
issue 14), validated completely before anything is read or trained.

::

    images: {dataset: mnist}                     # or {path: my.npz, key: x}
    split: {members: 500, nonmembers: 500, population: 500}
    target: {model: dcgan, latent_dim: 64, width: 32, epochs: 150, lr: 0.002}
    attacks: all              # or [logan_white_box, {name: gan_leaks_fbb, k: 1000}]
    evaluation: {bootstrap: 200}
    seed: 0
    output: runs/gan

The target GAN trains on ``members``; the audited records are the members and as many
non-members; the attacker's ``population`` (disjoint from both) trains the calibrated
attack's reference generator with the target's recipe (seed + 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miaudit.attacks.gan import GAN_ATTACKS, GANAttack, make_gan_attack
from miaudit.errors import ConfigError, MiauditError
from miaudit.generative import DCGANRecipe
from miaudit.pipeline.config import MAX_SEED, _bootstrap, _check_keys, _int, _known, _mapping

TOP_KEYS = {"title", "images", "split", "target", "attacks", "evaluation", "seed", "output"}
#: the generative recipes a config can name (``target: {model: ...}``)
GENERATIVE_MODELS = ("dcgan",)
_DCGAN_KEYS = {"model", "latent_dim", "width", "epochs", "batch_size", "lr", "beta1"}


@dataclass(frozen=True)
class GenerativeAuditConfig:
    """A validated generative-model audit configuration (see the module docstring)."""

    images: dict[str, Any]
    split: dict[str, int]
    recipe: DCGANRecipe
    attacks: tuple[GANAttack, ...]
    labels: tuple[str, ...]
    bootstrap: int
    seed: int
    output: str | None
    title: str | None
    raw: dict[str, Any] = field(default_factory=dict)


def is_generative_config(raw: Any) -> bool:
    """Whether a parsed YAML configuration is a generative-model audit's (an ``images:``
    key)."""
    return isinstance(raw, dict) and "images" in raw


def _images(value: Any, source: str) -> dict[str, Any]:
    im = _mapping(value, "images", source)
    _check_keys(im, {"dataset", "path", "key", "data_dir"}, source, "images")
    if ("dataset" in im) == ("path" in im):
        raise ConfigError(f"{source}: images needs exactly one of 'dataset' or 'path'")
    if "dataset" in im:
        _known(str(im["dataset"]), ["mnist"], "image data set", source)
        if "key" in im:
            raise ConfigError(f"{source}: images.key applies to a path (an .npz file)")
        out = {"dataset": str(im["dataset"])}
        if im.get("data_dir") is not None:
            out["data_dir"] = str(im["data_dir"])
        return out
    path = im["path"]
    if not isinstance(path, str) or not Path(path).is_file():
        raise ConfigError(f"{source}: images.path {path!r} is not a file")
    if not path.endswith(".npz"):
        raise ConfigError(f"{source}: images.path must be an .npz file, got {path!r}")
    if "data_dir" in im:
        raise ConfigError(f"{source}: images.data_dir applies to a named data set")
    key = im.get("key", "x")
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{source}: images.key must be the name of an array in the .npz")
    return {"path": path, "key": key}


def _split(value: Any, source: str) -> dict[str, int]:
    s = _mapping(value, "split", source)
    _check_keys(s, {"members", "nonmembers", "population"}, source, "split")
    for key in ("members", "nonmembers"):
        if key not in s:
            raise ConfigError(f"{source}: split needs '{key}' (a number of images)")
    return {
        "members": _int(s["members"], "split.members", source, minimum=2),
        "nonmembers": _int(s["nonmembers"], "split.nonmembers", source, minimum=1),
        "population": _int(s.get("population", 0), "split.population", source, minimum=0),
    }


def _recipe(value: Any, seed: int, source: str) -> DCGANRecipe:
    t = _mapping(value, "target", source)
    model = t.get("model")
    if model is None:
        raise ConfigError(
            f"{source}: target needs 'model' (one of: {', '.join(GENERATIVE_MODELS)})"
        )
    _known(str(model), list(GENERATIVE_MODELS), "generative model", source)
    _check_keys(t, _DCGAN_KEYS, source, "target")
    params = {k: v for k, v in t.items() if k != "model"}
    try:
        return DCGANRecipe(**params, seed=seed)
    except (MiauditError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: target: {exc}") from None


def _attacks(value: Any, source: str) -> tuple[tuple[GANAttack, ...], tuple[str, ...]]:
    names = GAN_ATTACKS.names()
    items = names if value == "all" else value
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: 'attacks' must be 'all' or a non-empty list of GAN attacks")
    out, labels = [], []
    for item in items:
        if isinstance(item, str):
            name, params, label = item, {}, item
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            name = item["name"]
            params = {k: v for k, v in item.items() if k not in ("name", "label")}
            label = item.get("label", name)
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(f"{source}: attack {name}: label must be a non-empty string")
        else:
            raise ConfigError(f"{source}: each attack is a name or a mapping with 'name'")
        _known(name, names, "GAN attack", source)
        try:
            out.append(make_gan_attack(name, **params))
        except MiauditError as exc:
            raise ConfigError(f"{source}: attack {name}: {exc}") from None
        labels.append(label)
    if len(set(labels)) != len(labels):
        raise ConfigError(
            f"{source}: two attacks share a label in {labels}; give variants a 'label'"
        )
    return tuple(out), tuple(labels)


def parse_generative_config(raw: Any, *, source: str = "config") -> GenerativeAuditConfig:
    """Validate a generative-model audit configuration (the parsed YAML)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    _check_keys(raw, TOP_KEYS, source)
    for key in ("images", "split", "target", "attacks"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'")
    seed = _int(raw.get("seed", 0), "seed", source, minimum=0, maximum=MAX_SEED - 1)
    images = _images(raw["images"], source)
    split = _split(raw["split"], source)
    recipe = _recipe(raw["target"], seed, source)
    attacks, labels = _attacks(raw["attacks"], source)
    with_ref = [a.name for a in attacks if a.needs().reference]
    if with_ref and split["population"] < 2:
        raise ConfigError(
            f"{source}: {', '.join(with_ref)} train a reference generator on the attacker's "
            "population images; set split.population to at least 2"
        )
    ev = _mapping(raw.get("evaluation") or {}, "evaluation", source)
    _check_keys(ev, {"bootstrap"}, source, "evaluation")
    output = raw.get("output")
    if output is not None and not isinstance(output, str):
        raise ConfigError(f"{source}: 'output' must be a directory path")
    title = raw.get("title")
    if title is not None and not isinstance(title, str):
        raise ConfigError(f"{source}: 'title' must be a string")
    return GenerativeAuditConfig(
        images=images,
        split=split,
        recipe=recipe,
        attacks=attacks,
        labels=labels,
        bootstrap=_bootstrap(ev.get("bootstrap", 200), source),
        seed=seed,
        output=output,
        title=title,
        raw=dict(raw),
    )
