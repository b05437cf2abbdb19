"""``miaudit aggregate CONFIG``: was a record in the cohort behind a released mean vector?
(issue 13 part 3). A p-value for each tested record, aggregate.json and aggregate.html.

The config (every key but ``dataset``/``synthetic_genotypes`` and ``records`` optional)::

    title: Aggregate audit
    dataset: {name: location}      # a registered data set, or {path: x.npz} (array x, or key:)
    # synthetic_genotypes: {n_individuals: 3000, n_snps: 1000, binary: false, seed: 0}
    cohort: 100                    # the released cohort: a count (seeded) or record indices
    release: {noise: laplace, epsilon: 100, delta: 0, suppress_below: 0.01}
    # release: published.npy       # a real audit: the published vector (no 'cohort'); as a
    #                              # mapping {file: ..., cohort_size: N, noise: ..., epsilon: ...}
    reference: 2000                # known non-members: a count (seeded, outside the cohort and
                                   # the tested records) or indices; with a file, indices
    null_fraction: 0.5             # share of the reference kept as the null, not fitted
    records: 20                    # the records to test: indices, or (simulated) a count, half
                                   # drawn from the cohort and half from outside it
    attack: sankararaman           # homer | sankararaman | pyrgelis
    method: empirical              # or homer_t (Homer's t-test, attack homer)
    alpha: 0.05
    seed: 0
    output: runs/aggregate

The default attack is ``sankararaman``: in BENCHMARKS.md ("Membership in aggregate
statistics") Sankararaman's likelihood ratio has the highest AUC and TPR at 1% FPR of the
three at every exact-means setting on both Location and the genotype panel (Location,
n = 30: AUC 0.987 against Pyrgelis' 0.930 and Homer's 0.791), and it needs no knowledge of
the release mechanism or the cohort size (Pyrgelis' classifier needs both to simulate its
training cohorts). Under DP noise no attack is reliably stronger (Homer overtakes it on the
genotype panel at Laplace epsilon 100 by 0.017 AUC, within the intervals).

Validation happens in three steps, each before any computation: the config's keys and
values (one-line ConfigError), then the data's shape and the index ranges, sizes and
overlaps (one-line DataError / ConfigError), then the release file's length. Only then are
the cohort released and the attack fitted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.aggregate import (
    AggregateAttack,
    HomerAttack,
    PyrgelisAttack,
    ReleaseMechanism,
    SankararamanAttack,
    aggregate_test,
    genotype_panel,
)
from miaudit.aggregate._checks import check_unit_matrix
from miaudit.aggregate.pvalues import METHODS
from miaudit.errors import ConfigError, DataError, short_repr
from miaudit.pipeline._yaml import read_yaml
from miaudit.pipeline.config import _check_keys, _known, _split_set
from miaudit.validation import check_number

FILES = ("aggregate.json", "aggregate.html")
KEYS = {
    "title",
    "dataset",
    "synthetic_genotypes",
    "cohort",
    "release",
    "reference",
    "null_fraction",
    "records",
    "attack",
    "method",
    "alpha",
    "seed",
    "output",
}
RELEASE_KEYS = {"noise", "epsilon", "delta", "suppress_below", "file", "cohort_size"}
GENOTYPE_KEYS = {"n_individuals", "n_snps", "beta_a", "beta_b", "min_maf", "binary", "seed"}
DEFAULT_ATTACK = "sankararaman"
DEFAULT_REFERENCE = 1000
DEFAULT_COHORT = 100


def _homer(cohort_size: int, mechanism: ReleaseMechanism, method: str, seed: int):
    return HomerAttack(statistic="t" if method == "homer_t" else "sum")


def _sankararaman(cohort_size: int, mechanism: ReleaseMechanism, method: str, seed: int):
    return SankararamanAttack()


def _pyrgelis(cohort_size: int, mechanism: ReleaseMechanism, method: str, seed: int):
    return PyrgelisAttack(cohort_size=cohort_size, mechanism=mechanism, seed=seed)


#: attack name -> factory(cohort_size, mechanism, method, seed)
ATTACKS: dict[str, Callable[[int, ReleaseMechanism, str, int], AggregateAttack]] = {
    "homer": _homer,
    "sankararaman": _sankararaman,
    "pyrgelis": _pyrgelis,
}

Indices = int | str | tuple[int, ...]


@dataclass(frozen=True)
class AggregateConfig:
    """An aggregate audit's settings, validated (see the module docstring)."""

    title: str
    seed: int
    dataset: dict[str, Any] | None
    genotypes: dict[str, Any] | None
    cohort: Indices | None
    mechanism: ReleaseMechanism
    release_file: str | None
    cohort_size: int | None
    reference: Indices
    null_fraction: float
    records: Indices
    attack: str
    method: str
    alpha: float
    output: str | None
    raw: dict[str, Any]


def parse_aggregate_config(raw: Any, *, source: str = "config") -> AggregateConfig:
    """Check every key and value of an aggregate config (one-line ConfigError)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    _check_keys(raw, KEYS, source)
    if ("dataset" in raw) == ("synthetic_genotypes" in raw):
        raise ConfigError(
            f"{source}: give exactly one of 'dataset' ({{name: location}} or {{path: x.npz}}) "
            "and 'synthetic_genotypes' ({n_individuals: ..., n_snps: ...})"
        )
    dataset = _dataset(raw.get("dataset"), source) if "dataset" in raw else None
    genotypes = _genotypes(raw["synthetic_genotypes"], source) if dataset is None else None
    if "records" not in raw:
        raise ConfigError(f"{source}: missing required key 'records' (the records to test)")
    seed = int(check_number(raw.get("seed", 0), f"{source}: 'seed'", low=0, integer=True))
    release = raw.get("release") or {}
    if isinstance(release, str):
        release = {"file": release}
    if not isinstance(release, dict):
        raise ConfigError(
            f"{source}: 'release' must be a mapping (noise, epsilon, delta, suppress_below) or "
            f"the path of a published .npy vector, got {short_repr(release)}"
        )
    _check_keys(release, RELEASE_KEYS, source, "release")
    mechanism = _mechanism(release, source)
    release_file = release.get("file")
    cohort_size = release.get("cohort_size")
    if release_file is not None:
        if not isinstance(release_file, str) or not Path(release_file).is_file():
            raise ConfigError(
                f"{source}: 'release.file' must be the path of a .npy file of the published "
                f"means; there is no file {short_repr(release_file)}"
            )
        if "cohort" in raw:
            raise ConfigError(
                f"{source}: 'cohort' and a published release file exclude each other (with "
                "a file the cohort is unknown; give release.cohort_size instead)"
            )
        if cohort_size is not None:
            check_number(cohort_size, f"{source}: 'release.cohort_size'", low=1, integer=True)
        cohort = None
    else:
        if cohort_size is not None:
            raise ConfigError(
                f"{source}: 'release.cohort_size' is only for a published file; set 'cohort'"
            )
        cohort = _split_set(raw.get("cohort", DEFAULT_COHORT), "cohort", source)
    reference = _split_set(raw.get("reference", DEFAULT_REFERENCE), "reference", source)
    records = _split_set(raw["records"], "records", source)
    if release_file is not None and (isinstance(reference, int) or isinstance(records, int)):
        raise ConfigError(
            f"{source}: with a published release the cohort is unknown, so 'reference' and "
            "'records' must list record indices (reference: records known not to be in the "
            "cohort), not counts"
        )
    _disjoint(cohort, reference, "the cohort", "the reference population", source)
    _disjoint(records, reference, "the tested records", "the reference population", source)
    null_fraction = float(
        check_number(
            raw.get("null_fraction", 0.5),
            f"{source}: 'null_fraction'",
            low=0,
            high=1,
            closed="neither",
        )
    )
    attack = raw.get("attack", DEFAULT_ATTACK)
    _known(attack, sorted(ATTACKS), "attack", source)
    method = raw.get("method", "empirical")
    _known(method, list(METHODS), "p-value method", source)
    if method == "homer_t" and attack != "homer":
        raise ConfigError(f"{source}: method 'homer_t' is Homer's t-test: set attack: homer")
    if attack == "pyrgelis" and release_file is not None and cohort_size is None:
        raise ConfigError(
            f"{source}: attack 'pyrgelis' simulates cohorts of the released size: set "
            "release.cohort_size"
        )
    alpha = float(
        check_number(raw.get("alpha", 0.05), f"{source}: 'alpha'", low=0, high=1, closed="neither")
    )
    title = raw.get("title", "Was this record in the cohort?")
    if not isinstance(title, str):
        raise ConfigError(f"{source}: 'title' must be a string, got {short_repr(title)}")
    output = raw.get("output")
    if output is not None and not isinstance(output, str):
        raise ConfigError(f"{source}: 'output' must be a path, got {short_repr(output)}")
    return AggregateConfig(
        title=title,
        seed=seed,
        dataset=dataset,
        genotypes=genotypes,
        cohort=cohort,
        mechanism=mechanism,
        release_file=release_file,
        cohort_size=None if cohort_size is None else int(cohort_size),
        reference=reference,
        null_fraction=null_fraction,
        records=records,
        attack=str(attack),
        method=str(method),
        alpha=alpha,
        output=output,
        raw=raw,
    )


def _dataset(value: Any, source: str) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{source}: 'dataset' must be {{name: location}} or {{path: features.npz}}"
        )
    _check_keys(value, {"name", "path", "key"}, source, "dataset")
    if ("name" in value) == ("path" in value):
        raise ConfigError(f"{source}: 'dataset' needs exactly one of 'name' and 'path'")
    if "path" in value:
        if not isinstance(value["path"], str) or not Path(value["path"]).is_file():
            raise ConfigError(
                f"{source}: dataset.path: there is no file {short_repr(value['path'])}"
            )
        if not isinstance(value.get("key", "x"), str):
            raise ConfigError(f"{source}: dataset.key must name an array of the .npz file")
    elif "key" in value:
        raise ConfigError(f"{source}: dataset.key applies only to dataset.path")
    else:
        from miaudit.data import DATASETS

        _known(value["name"], list(DATASETS.names()), "dataset", source)
    return dict(value)


def _genotypes(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: 'synthetic_genotypes' must be a mapping")
    _check_keys(value, GENOTYPE_KEYS, source, "synthetic_genotypes")
    for key in ("n_individuals", "n_snps"):
        if key not in value:
            raise ConfigError(f"{source}: synthetic_genotypes needs '{key}'")
        check_number(value[key], f"{source}: 'synthetic_genotypes.{key}'", low=1, integer=True)
    if value["n_individuals"] * value["n_snps"] > 200_000_000:
        raise ConfigError(
            f"{source}: synthetic_genotypes of {value['n_individuals']} x {value['n_snps']} "
            "would need more than 1.6 GB; use at most 2e8 values"
        )
    if "binary" in value and not isinstance(value["binary"], bool):
        raise ConfigError(f"{source}: synthetic_genotypes.binary must be true or false")
    return dict(value)


def _mechanism(release: dict[str, Any], source: str) -> ReleaseMechanism:
    noise = release.get("noise")
    epsilon = release.get("epsilon", math.inf if noise is None else None)
    if noise is not None and epsilon is None:
        raise ConfigError(f"{source}: release.noise {short_repr(noise)} needs release.epsilon")
    try:
        return ReleaseMechanism(
            noise=noise,
            epsilon=epsilon,
            delta=release.get("delta", 0.0),
            suppress_below=release.get("suppress_below"),
        ).checked()
    except ConfigError as exc:
        raise ConfigError(f"{source}: release: {exc}") from None


def _disjoint(a: Indices | None, b: Indices, what_a: str, what_b: str, source: str) -> None:
    if isinstance(a, tuple) and isinstance(b, tuple):
        shared = sorted(set(a) & set(b))
        if shared:
            raise ConfigError(
                f"{source}: {what_a} and {what_b} share record {shared[0]}; the reference "
                "records must be known not to be in the cohort (and are not tested)"
            )


# --- resolving the records ------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    x: np.ndarray
    cohort: np.ndarray | None
    released: np.ndarray | None  # a published vector
    fit: np.ndarray
    null: np.ndarray
    records: np.ndarray


def load_records(config: AggregateConfig, data_dir: str | None = None) -> np.ndarray:
    """The feature matrix the config names, (n, d) float64 in [0, 1] (one-line DataError)."""
    if config.genotypes is not None:
        g = config.genotypes
        x, _ = genotype_panel(
            int(g["n_individuals"]),
            int(g["n_snps"]),
            **{k: g[k] for k in ("beta_a", "beta_b", "min_maf", "binary", "seed") if k in g},
        )
    elif config.dataset is not None and "path" in config.dataset:
        from miaudit.data.loaders import _read_npz

        key = config.dataset.get("key", "x")
        x = _read_npz(Path(config.dataset["path"]), (key,))[key]
    else:
        from miaudit.data import load_dataset

        assert config.dataset is not None
        x = np.asarray(load_dataset(config.dataset["name"], data_dir=data_dir).x)
    x = np.asarray(x)
    if x.ndim != 2:
        raise DataError(f"the records must be a 2-d feature matrix, got shape {x.shape}")
    return check_unit_matrix(x, "the records' features")


def _indices(value: Indices, what: str, n: int) -> np.ndarray:
    from miaudit.data.split import _as_indices, read_index_list

    idx = _as_indices(read_index_list(value, what=what), what)  # type: ignore[arg-type]
    if idx.size == 0:
        raise DataError(f"{what} is empty")
    if idx.max() >= n:
        raise DataError(f"{what}: record {int(idx.max())} is out of range (the data has {n})")
    return idx


def plan(config: AggregateConfig, x: np.ndarray) -> _Plan:
    """Which records are the cohort, the reference (fit / null) and the tested ones; the
    published vector's shape. Every check before any computation."""
    n, d = x.shape
    rng = np.random.default_rng([config.seed, 13])
    taken = np.zeros(n, dtype=bool)

    def draw(count: int, allowed: np.ndarray, what: str) -> np.ndarray:
        pool = np.flatnonzero(allowed)
        if count > pool.size:
            raise DataError(
                f"{what}: {count} records asked for, but only {pool.size} of the {n} are "
                "available (outside the cohort, the reference and the tested records)"
            )
        return np.sort(rng.choice(pool, size=count, replace=False))

    explicit = {
        k: _indices(v, k, n)
        for k, v in (("cohort", config.cohort), ("reference", config.reference))
        if isinstance(v, (str, tuple))
    }
    if isinstance(config.records, (str, tuple)):
        explicit["records"] = _indices(config.records, "records", n)
    for a, b in (("cohort", "reference"), ("records", "reference")):
        if a in explicit and b in explicit:
            shared = np.intersect1d(explicit[a], explicit[b])
            if shared.size:
                raise ConfigError(
                    f"{a} and {b} share record {int(shared[0])}; the reference records must be "
                    "known not to be in the cohort (and are not tested)"
                )
    released = None
    if config.release_file is not None:
        released = _published(config.release_file, d)
        cohort = None
    elif "cohort" in explicit:
        cohort = explicit["cohort"]
    else:
        ref_taken = np.zeros(n, dtype=bool)
        if "reference" in explicit:
            ref_taken[explicit["reference"]] = True
        cohort = draw(int(config.cohort), ~ref_taken, "cohort")  # type: ignore[arg-type]
    in_cohort = np.zeros(n, dtype=bool)
    if cohort is not None:
        in_cohort[cohort] = True
    if "records" in explicit:
        records = explicit["records"]
    else:
        k = int(config.records)  # type: ignore[arg-type]
        if "reference" in explicit:
            taken[explicit["reference"]] = True
        members = draw(k // 2, in_cohort & ~taken, "records (cohort members)")
        outside = draw(k - k // 2, ~in_cohort & ~taken, "records (outside the cohort)")
        records = np.r_[members, outside]
    taken[:] = False
    taken[records] = True
    if "reference" in explicit:
        reference = explicit["reference"]
    else:
        reference = draw(int(config.reference), ~in_cohort & ~taken, "reference")  # type: ignore[arg-type]
    order = np.random.default_rng([config.seed, 17]).permutation(reference)
    n_null = int(round(config.null_fraction * reference.size))
    null, fit = np.sort(order[:n_null]), np.sort(order[n_null:])
    if fit.size < 2:
        raise ConfigError(
            f"the reference population ({reference.size} records, null_fraction "
            f"{config.null_fraction:g}) leaves {fit.size} to fit the attack; it needs at least 2"
        )
    if config.method == "empirical" and 1.0 / (1 + null.size) > config.alpha:
        need = math.ceil(1 / config.alpha) - 1
        raise ConfigError(
            f"{null.size} null records cannot give a p-value <= alpha {config.alpha:g} (the "
            f"smallest is 1/(1 + {null.size})); use at least {need} (a larger reference or "
            "null_fraction)"
        )
    size = _cohort_size(config, cohort)
    if config.attack == "pyrgelis" and size + 4 > fit.size:
        raise ConfigError(
            f"attack 'pyrgelis' simulates cohorts of {size} from the {fit.size} reference "
            f"records it fits on; it needs at least {size + 4} (a larger reference)"
        )
    return _Plan(x, cohort, released, fit, null, records)


def _cohort_size(config: AggregateConfig, cohort: np.ndarray | None) -> int:
    if cohort is not None:
        return int(cohort.size)
    return int(config.cohort_size or 0)


def _published(path: str, d: int) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"release.file: {path} is not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.shape[0] != d:
        raise DataError(
            f"release.file: {path} has shape {getattr(arr, 'shape', '?')}, but the records have "
            f"{d} features: the published vector must hold one mean per feature, shape ({d},)"
        )
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise DataError(f"release.file: {path} must hold finite numbers")
    if arr.min() < 0 or arr.max() > 1:
        raise DataError(
            f"release.file: {path} holds means outside [0, 1] ({float(arr.min()):g} to "
            f"{float(arr.max()):g}); features must be scaled to [0, 1]"
        )
    return arr.astype(np.float64)


# --- running ---------------------------------------------------------------------------------


def run_aggregate(config: AggregateConfig, *, data_dir: str | None = None) -> dict[str, Any]:
    """Resolve, check, release (or read the published vector), fit and test; aggregate.json's
    content (without writing anything)."""
    from miaudit.aggregate import release_means
    from miaudit.metrics import auc, tpr_at_fpr

    x = load_records(config, data_dir)
    p = plan(config, x)
    if p.released is not None:
        means, withheld = p.released, None
        scale = (
            config.mechanism.scale(config.cohort_size, x.shape[1]) if config.cohort_size else None
        )
        release_doc = {"source": "file", "file": config.release_file}
    else:
        assert p.cohort is not None
        m = config.mechanism
        rel = release_means(
            x[p.cohort],
            noise=m.noise,
            epsilon=m.epsilon,
            delta=m.delta,
            suppress_below=m.suppress_below,
            seed=np.random.default_rng([config.seed, 19]),
        )
        means, withheld = rel.means, rel.withheld
        scale = rel.scale
        release_doc = {"source": "simulated", "n_withheld": int(withheld.sum())}
    size = _cohort_size(config, p.cohort)
    attack = ATTACKS[config.attack](size, config.mechanism, config.method, config.seed)
    attack.fit(x[p.fit])
    test = aggregate_test(
        attack,
        x[p.records],
        means,
        x[p.null],
        withheld=withheld,
        alpha=config.alpha,
        method=config.method,  # type: ignore[arg-type]
    )
    truth = None if p.cohort is None else np.isin(p.records, p.cohort)
    rows = [
        {
            "index": int(i),
            "statistic": float(test.statistics[j]),
            "p_value": float(test.p_values[j]),
            "found": bool(test.reject[j]),
            "member": None if truth is None else bool(truth[j]),
        }
        for j, i in enumerate(p.records)
    ]
    metrics = None
    if truth is not None and 0 < truth.sum() < truth.size:
        metrics = {
            "auc": auc(truth, test.statistics),
            "tpr_at_1pct_fpr": tpr_at_fpr(truth, test.statistics, 0.01),
            "n_members": int(truth.sum()),
            "n_nonmembers": int(truth.size - truth.sum()),
        }
    m = config.mechanism
    one = test.sentence(0, int(p.records[0]))
    return {
        "kind": "aggregate",
        "title": config.title,
        "answer": test.answer(),
        "first_record": one,
        "attack": config.attack,
        "paper": attack.paper,
        "method": test.method,
        "alpha": test.alpha,
        "n_tested": int(test.reject.size),
        "n_found": int(test.reject.sum()),
        "n_null": int(p.null.size),
        "n_fit": int(p.fit.size),
        "n_features": test.n_features,
        "assumptions": test.assumptions,
        "release": {
            **release_doc,
            "cohort_size": size or None,
            "noise": m.noise,
            "epsilon": None if math.isinf(m.epsilon) else m.epsilon,  # None: no noise
            "delta": m.delta,
            "suppress_below": m.suppress_below,
            "noise_scale": scale,
        },
        "records": rows,
        "null_statistics": test.null_statistics.tolist(),
        "metrics": metrics,
        "config": config.raw,
    }


def run_aggregate_config(
    path: str | Path,
    *,
    output: str | None,
    data_dir: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run an aggregate config; write aggregate.json and aggregate.html; return the JSON."""
    from miaudit.pipeline.output import prepare_output_dir, write_outputs
    from miaudit.report.aggregate import render_aggregate_html

    config = parse_aggregate_config(read_yaml(path), source=str(path))
    out = output or config.output
    if out is None:
        raise ConfigError("no output directory: set 'output' in the config or pass --output")
    prepare_output_dir(out, identity=None, files=FILES)
    doc = run_aggregate(config, data_dir=data_dir)
    html = render_aggregate_html(doc)
    text = json.dumps(doc, indent=1, default=_json)
    write_outputs(
        out,
        {
            "aggregate.json": lambda q: Path(q).write_text(text, encoding="utf-8"),
            "aggregate.html": lambda q: Path(q).write_text(html, encoding="utf-8"),
        },
    )
    doc["output"] = str(out)
    return doc


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
