"""``miaudit owner CONFIG`` when the target is a language model (issue 13 part 1).

A config with a ``text:`` section is an LM owner audit::

    text: {path: my.jsonl, unit: record}   # the records the indices below point into
    target: {hf: tuned/}                   # a saved Hugging Face model (+ base: for references)
    owner: [12, 40, 77]                    # the owner's record indices (a list, .npy or text file)
    reference_nonmembers: [...]            # known non-members, disjoint from the owner's
    population: 1000                       # optional: the attacker's records (default the rest)
    attack: lm_rmia                        # optional: default below
    reference: {num_models: 4}             # optional: reference LMs, fine-tuned from target.base
    test: mann_whitney                     # or welch
    alpha: 0.05

It runs :func:`~miaudit.pipeline.lm_audit.run_lm_config` with the owner's records in the
members' place and the reference non-members as non-members. Every LM attack scores a record
from the target's answers and from what it fitted on other records (reference LMs on random
halves of the audited records alike, or on the population), so under H0 the owner's and the
reference records' scores are exchangeable and the rank test is exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from miaudit.errors import ConfigError
from miaudit.pipeline.config import _check_keys, _split_set
from miaudit.pipeline.lm_config import LMAuditConfig, parse_lm_config

LM_OWNER_KEYS = {"owner", "reference_nonmembers", "population", "attack", "test", "alpha"}
LM_AUDIT_KEYS = {
    "title",
    "text",
    "tokenizer",
    "target",
    "reference",
    "evaluation",
    "seed",
    "output",
}
#: why an LM owner audit has no DUCI fraction or power curve (yet)
LM_NO_PSEUDO_TARGETS = (
    "not measured for language models yet: the reference LMs of lm_rmia and lm_lira are "
    "trained on random halves of the audited records, but the LM audit does not score each "
    "of them as a pseudo-target"
)


def default_lm_attack(reference: Any, population: Any) -> str | dict[str, Any]:
    """The strongest calibrated LM attack the audit can run (BENCHMARKS.md, "Language
    models" and "Owner audits"): with reference LMs and population records ``lm_rmia``
    (Zarifzadeh et al. 2024; the best TPR at 0.1% FPR on both LM benchmarks, and one used
    record found 98% of the time on Tiny Shakespeare, against 96% for reference_ratio and
    85% for lm_loss); with reference LMs but no population ``lm_lira`` with a global
    variance (Carlini et al. 2022: their advice below 64 reference models; per-record
    variances failed with 4 reference LMs); without reference LMs the loss attack."""
    if reference is not None and population != 0:
        return "lm_rmia"
    if reference is not None:
        return {"name": "lm_lira", "fixed_variance": True}
    return "lm_loss"


def parse_lm_owner_config(
    raw: dict[str, Any], *, source: str, test: str, alpha: float
) -> tuple[LMAuditConfig, dict[str, Any]]:
    """The LM audit config an LM owner config stands for, and the owner's settings."""
    _check_keys(raw, LM_OWNER_KEYS | LM_AUDIT_KEYS, source)
    for key in ("owner", "reference_nonmembers", "text", "target"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'")
    target = raw["target"]
    if not isinstance(target, dict) or "hf" not in target:
        raise ConfigError(
            f"{source}: an owner audit of a language model is of a trained model (target.hf: "
            "a saved Hugging Face directory): a recipe target would be trained on the owner's "
            "records alone. To simulate owners of an LM miaudit trains, see "
            "benchmarks/owner_power.py"
        )
    owner = _split_set(raw["owner"], "owner", source)
    reference = _split_set(raw["reference_nonmembers"], "reference_nonmembers", source)
    if isinstance(owner, int) or isinstance(reference, int):
        raise ConfigError(
            f"{source}: 'owner' and 'reference_nonmembers' list record indices into the text "
            "records (a list, a .npy file or a text file of one index per line), not counts"
        )
    population = raw.get("population")
    attack = raw.get("attack") or default_lm_attack(raw.get("reference"), population)
    lm_raw = {k: v for k, v in raw.items() if k in LM_AUDIT_KEYS}
    lm_raw["split"] = {
        "members": list(owner) if isinstance(owner, tuple) else owner,
        "nonmembers": list(reference) if isinstance(reference, tuple) else reference,
        "population": population,
    }
    lm_raw["attacks"] = [attack]
    lm_raw["evaluation"] = {**(raw.get("evaluation") or {}), "bootstrap": 0}
    lm_raw.setdefault("title", "Owner audit of a language model")
    if population == 0:
        _needs_no_population(attack, source)
    config = parse_lm_config(lm_raw, source=source)
    name = config.labels[0]
    return config, {"test": test, "alpha": alpha, "attack": name, "raw": raw}


def _needs_no_population(attack: Any, source: str) -> None:
    """Refuse ``population: 0`` for an attack that reads population records (in the owner
    config's words; a bad attack is left to :func:`parse_lm_config` to name)."""
    from miaudit.attacks.lm import make_lm_attack
    from miaudit.errors import MiauditError

    name = attack if isinstance(attack, str) else attack.get("name")
    params = {} if isinstance(attack, str) else {k: v for k, v in attack.items() if k != "name"}
    try:
        needs = make_lm_attack(str(name), **params).needs()
    except (MiauditError, KeyError, TypeError):
        return
    if needs.population or needs.reference == "population":
        raise ConfigError(
            f"{source}: {name} needs the attacker's population records; leave 'population' "
            "out (all records outside owner and reference_nonmembers) or set it above 0"
        )


def lm_owner_split(config: LMAuditConfig, records: Any, *, source: str) -> tuple[int, int]:
    """Check the owner's and reference indices against the records (in range, no repeats,
    disjoint, room for the population); returns their counts. Reads no model."""
    from miaudit.data.split import read_index_list

    n = len(records)
    groups = []
    for key, split_key in (("owner", "members"), ("reference_nonmembers", "nonmembers")):
        idx = read_index_list(config.split[split_key], what=f"{source}: '{key}'")
        if idx.ndim != 1 or idx.size == 0:
            raise ConfigError(f"{source}: '{key}' must list at least one record index")
        bad = idx[(idx < 0) | (idx >= n)]
        if bad.size:
            raise ConfigError(
                f"{source}: '{key}' lists record {int(bad[0])}, outside 0..{n - 1} (the "
                f"{n} text records of {records.name})"
            )
        if np.unique(idx).size != idx.size:
            raise ConfigError(f"{source}: '{key}' lists a record twice")
        groups.append(idx)
    shared = np.intersect1d(*groups)
    if shared.size:
        raise ConfigError(
            f"{source}: the owner's records and the reference non-members share record "
            f"{int(shared[0])}; the reference records must be known non-members"
        )
    rest = n - groups[0].size - groups[1].size
    population = config.split["population"]
    if population is not None and population > rest:
        raise ConfigError(
            f"{source}: 'population' {population} is more than the {rest} records outside "
            "owner and reference_nonmembers"
        )
    return int(groups[0].size), int(groups[1].size)


def run_lm_owner(
    config: LMAuditConfig,
    owner: dict[str, Any],
    out: str | Path,
    *,
    source: str,
    data_dir: str | None,
    progress: bool,
    overwrite: bool,
) -> tuple[Any, np.ndarray]:
    """Check the indices against the records, then run the LM audit into ``out/audit``;
    returns its :class:`~miaudit.results.AuditResult` and the owner's record indices."""
    from miaudit.pipeline._owner_settings import FILES, check_reachable
    from miaudit.pipeline.lm_audit import _records, run_lm_config
    from miaudit.pipeline.output import prepare_output_dir

    records = _records(config, data_dir)
    m, r = lm_owner_split(config, records, source=source)
    check_reachable(m, r, owner["test"], owner["alpha"], source)
    prepare_output_dir(out, identity=None, files=FILES)
    result = run_lm_config(
        config,
        output=Path(out) / "audit",
        data_dir=data_dir,
        progress=progress,
        overwrite=overwrite,
        records=records,
    )
    return result, np.asarray(result.record_ids)[np.asarray(result.membership, dtype=bool)]
