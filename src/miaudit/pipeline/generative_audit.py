"""The generative-model audit (issue 14): split image records, train (or take) the target
GAN, train the calibrated attacks' reference generator once, run the GAN attacks and
evaluate them with the project's metrics (:func:`gan_audit`); and the config run
(:func:`run_generative_config`) writing results.json, scores.csv and report.html."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.attacks.gan import GANAttack, run_gan_attack
from miaudit.errors import ConfigError, DataError, MiauditError
from miaudit.generative import DCGANRecipe, GANTarget, check_images, train_dcgan
from miaudit.metrics import evaluate_scores
from miaudit.results import AttackResult, AuditResult, TargetSummary
from miaudit.validation import check_int


@dataclass(frozen=True)
class ImageSplit:
    """Disjoint index sets into the images: the target's members, the audited
    non-members and the attacker's population (the reference generator's training set)."""

    members: np.ndarray
    nonmembers: np.ndarray
    population: np.ndarray


def split_images(
    n: int, *, members: int, nonmembers: int, population: int = 0, seed: int = 0
) -> ImageSplit:
    """A seeded split of ``n`` images into disjoint sets (ConfigError when they do not fit)."""
    members = check_int(members, "split members", low=2)
    nonmembers = check_int(nonmembers, "split nonmembers", low=1)
    population = check_int(population, "split population", low=0)
    want = members + nonmembers + population
    if want > n:
        raise ConfigError(
            f"the split asks for {want} images but the data set has {n}; lower split "
            "members/nonmembers/population"
        )
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6A4]))
    perm = order.permutation(n)
    a, b = members, members + nonmembers
    return ImageSplit(*(np.sort(p) for p in (perm[:a], perm[a:b], perm[b:want])))


def gan_audit(
    images: np.ndarray,
    attacks: Sequence[GANAttack],
    *,
    split: ImageSplit,
    recipe: DCGANRecipe | None = None,
    target: GANTarget | None = None,
    seed: int = 0,
    bootstrap: int = 200,
    labels: Sequence[str] | None = None,
    dataset: str | None = None,
    config: dict[str, Any] | None = None,
    title: str = "Membership-inference audit of a GAN",
) -> AuditResult:
    """Audit a GAN on image records (n, C, H, W) in [0, 1].

    Either ``recipe`` (miaudit trains the target DCGAN on ``split.members``) or ``target``
    (a trained :class:`GANTarget`, its discriminator only for white-box attacks), with
    ``recipe`` then training the calibrated attacks' reference generator. The reference
    generator trains once, with the recipe and seed + 1, on ``split.population`` (the
    attacker's images, disjoint from the audited ones) and every calibrated attack reads it.
    An attack that fails keeps its error in the result; the others' scores are kept.
    """
    attacks = list(attacks)
    if not attacks:
        raise ConfigError("no attacks to run")
    labels = [a.name for a in attacks] if labels is None else [str(x) for x in labels]
    if len(labels) != len(attacks) or len(set(labels)) != len(labels):
        raise ConfigError(f"attack labels must be distinct, one per attack: {labels}")
    for a in attacks:
        a.check_params()
    x = check_images(images)
    if recipe is not None and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"the dcgan recipe generates pixels in [0, 1], but the images range over "
            f"[{x.min():g}, {x.max():g}]; scale them (e.g. divide 8-bit pixels by 255)"
        )
    if (recipe is None) and (target is None):
        raise ConfigError("give the target GAN's recipe or a trained GANTarget")
    if target is not None:
        target.check_records(x[:1])
    needs_ref = [a.name for a in attacks if a.needs().reference]
    if needs_ref and recipe is None:
        raise ConfigError(
            f"{', '.join(needs_ref)} train a reference generator: give the recipe to train it"
        )
    if needs_ref and split.population.size < 2:
        raise ConfigError(
            f"{', '.join(needs_ref)} train a reference generator on the attacker's population "
            "images: leave at least 2 for split population"
        )
    if target is not None and not target.white_box:
        white = [a.name for a in attacks if a.needs().access == "white-box"]
        if white:
            raise DataError(
                f"{', '.join(white)} are white-box: they need the target's discriminator, and "
                "this GAN target has none"
            )
    timings: dict[str, float] = {}
    history = None
    if target is None:
        assert recipe is not None
        start = time.perf_counter()
        target, history = train_dcgan(recipe, x[split.members])
        timings["train_target"] = time.perf_counter() - start
    reference = None
    if needs_ref:
        assert recipe is not None
        start = time.perf_counter()
        ref_recipe = DCGANRecipe(**{**_recipe_params(recipe), "seed": recipe.seed + 1})
        reference, _ = train_dcgan(ref_recipe, x[split.population])
        timings["reference_generator"] = time.perf_counter() - start
    audited = np.concatenate([split.members, split.nonmembers])
    membership = np.r_[np.ones(split.members.size, bool), np.zeros(split.nonmembers.size, bool)]
    records = x[audited]
    results, costs = [], {}
    for a, label in zip(attacks, labels, strict=True):
        start = time.perf_counter()
        try:
            run = run_gan_attack(a, target, records, reference=reference, seed=seed)
            metrics = evaluate_scores(membership, run.scores, n_resamples=bootstrap, seed=seed)
            scores, error = run.scores, None
            costs[label] = {
                "samples": int(run.samples),
                # the discriminator's queries: one per audited record (white-box only)
                "discriminator_queries": len(records) if a.needs().access == "white-box" else 0,
                "seconds": float(run.seconds),
                "train_seconds": float(run.train_seconds),
            }
        except (MiauditError, ValueError, RuntimeError) as exc:
            scores, metrics, error = None, None, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        timings[f"attack:{label}"] = seconds
        results.append(
            AttackResult(
                name=label,
                threat_model=a.threat_model.to_dict(),
                params=a.get_params(),
                scores=scores,
                metrics=metrics,
                seconds=seconds,
                error=error,
                attack=a.name,
            )
        )
    return _result(
        results, target, history, recipe, membership, audited, split, seed, timings, costs,
        dataset, config, title,
    )  # fmt: skip


def _recipe_params(recipe: DCGANRecipe) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(recipe)


def _result(
    results: list[AttackResult],
    target: GANTarget,
    history: Any,
    recipe: DCGANRecipe | None,
    membership: np.ndarray,
    audited: np.ndarray,
    split: ImageSplit,
    seed: int,
    timings: dict[str, float],
    costs: dict[str, dict[str, Any]],
    dataset: str | None,
    config: dict[str, Any] | None,
    title: str,
) -> AuditResult:
    from miaudit.pipeline.api import package_versions

    trained = history is not None
    generative = {
        "family": "GAN",
        "record_shape": list(target.record_shape),
        "latent_dim": int(target.latent_dim),
        "white_box": bool(target.white_box),
        "d_loss": float(history.d_loss[-1]) if trained else None,
        "g_loss": float(history.g_loss[-1]) if trained else None,
        "train_seconds": float(history.seconds) if trained else None,
        "n_population": int(split.population.size),
        # trained once, with the target's recipe and seed + 1, on the population; read by
        # every calibrated attack (its seconds are not in their costs)
        "reference_generator_seconds": timings.get("reference_generator"),
        "attack_costs": costs,
        "samples_total": int(sum(c["samples"] for c in costs.values())),
    }
    model = "dcgan" if trained else type(target.generator).__name__
    summary = TargetSummary(
        model=model,
        params=_recipe_params(recipe) if (recipe is not None and trained) else {},
        num_classes=0,
        n_members=int(membership.sum()),
        n_nonmembers=int((~membership).sum()),
        train_accuracy=float("nan"),
        test_accuracy=float("nan"),
        dataset=dataset,
        generative=generative,
    )
    return AuditResult(
        target=summary,
        attacks=results,
        membership=membership,
        record_ids=audited.astype(np.int64),
        config=config,
        seed=int(seed),
        versions=package_versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        title=title,
        timings=timings,
    )


def load_images(images: dict[str, Any], data_dir: str | None = None) -> tuple[np.ndarray, str]:
    """The images a validated config's ``images:`` section names, and the data set's name."""
    if "dataset" in images:
        from miaudit.data import load_dataset

        data = load_dataset(images["dataset"], data_dir=images.get("data_dir", data_dir))
        return check_images(data.x, images["dataset"]), images["dataset"]
    path = Path(images["path"])
    try:
        with np.load(path, allow_pickle=False) as z:
            if images["key"] not in z.files:
                raise DataError(
                    f"{path}: no array {images['key']!r}; it holds {', '.join(z.files) or 'none'}"
                )
            x = z[images["key"]]
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read it as an .npz file ({exc})") from None
    return check_images(x, str(path)), path.name


def run_generative_config(
    config: Any,
    *,
    output: str | Path,
    data_dir: str | None = None,
    overwrite: bool = False,
) -> AuditResult:
    """Run a validated :class:`~miaudit.pipeline.generative_config.GenerativeAuditConfig`
    and write results.json, scores.csv and report.html into ``output`` (checked before any
    work)."""
    from miaudit.pipeline.output import OUTPUT_FILES, prepare_output_dir, save_result

    identity_config = {k: v for k, v in config.raw.items() if k != "output"}
    prepare_output_dir(
        output,
        identity={"kind": "audit", "config": identity_config},
        files=OUTPUT_FILES,
        overwrite=overwrite,
    )
    x, name = load_images(config.images, data_dir)
    s = config.split
    split = split_images(
        len(x),
        members=s["members"],
        nonmembers=s["nonmembers"],
        population=s["population"],
        seed=config.seed,
    )
    result = gan_audit(
        x,
        config.attacks,
        split=split,
        recipe=config.recipe,
        seed=config.seed,
        bootstrap=config.bootstrap,
        labels=config.labels,
        dataset=name,
        config=identity_config | ({"output": config.output} if config.output else {}),
        title=config.title or "Membership-inference audit of a GAN",
    )
    save_result(result, output, overwrite=True)
    return result
