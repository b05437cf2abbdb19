"""``miaudit owner CONFIG``: the data owner's audit from a config (issue 13 part 1).

The config is an audit config for any target (a recipe, a saved file, an endpoint) with,
instead of ``split`` and ``attacks``::

    owner: [12, 40, 77]            # the owner's record indices (a list, .npy or text file)
    reference_nonmembers: [...]    # known non-members, disjoint from the owner's
    population: 2000               # optional: the attacker's records (from the rest)
    attack: rmia                   # optional: default the strongest calibrated one
    test: mann_whitney             # or welch
    alpha: 0.05

Everything is validated (through the audit config's own checks, before anything trains);
the audit runs with the owner's records in the members' place; owner.json and owner.html
(the answer first) are written, with the audit's own files under ``audit/``. With LiRA or
RMIA (reference models on random halves of the records), owner.json also has the fraction
of the owner's records used (DUCI) and the test's power against the number of records.

A config with a ``text:`` section audits a language model instead (a saved Hugging Face
directory, ``target: {hf: dir}``; the indices point into the text records): see
:mod:`miaudit.pipeline.owner_lm`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.errors import ConfigError
from miaudit.pipeline._owner_settings import FILES, _test_settings, check_reachable
from miaudit.pipeline._yaml import read_yaml
from miaudit.pipeline.config import _check_keys, _split_set, parse_config
from miaudit.pipeline.owner_audit import answer_owner, default_attack

OWNER_KEYS = {"owner", "reference_nonmembers", "population", "attack", "test", "alpha"}
AUDIT_KEYS = {"title", "dataset", "target", "reference", "seed", "output", "evaluation"}


def parse_owner_config(raw: Any, *, source: str = "config") -> tuple[Any, dict[str, Any]]:
    """The audit config the owner config stands for, and the owner's settings; for a config
    with a ``text:`` section (a language model) an
    :class:`~miaudit.pipeline.lm_config.LMAuditConfig`
    (:func:`miaudit.pipeline.owner_lm.parse_lm_owner_config`)."""
    from miaudit.pipeline.lm_config import is_lm_config
    from miaudit.pipeline.owner_lm import parse_lm_owner_config

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    test, alpha = _test_settings(raw, source)
    if is_lm_config(raw):
        return parse_lm_owner_config(raw, source=source, test=test, alpha=alpha)
    _check_keys(raw, OWNER_KEYS | AUDIT_KEYS, source)
    for key in ("owner", "reference_nonmembers", "dataset", "target"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'")
    owner = _split_set(raw["owner"], "owner", source)
    reference = _split_set(raw["reference_nonmembers"], "reference_nonmembers", source)
    if isinstance(owner, int) or isinstance(reference, int):
        raise ConfigError(
            f"{source}: 'owner' and 'reference_nonmembers' list record indices (a list, a "
            ".npy file or a text file of one index per line), not counts"
        )
    if isinstance(owner, tuple) and isinstance(reference, tuple):
        shared = sorted(set(owner) & set(reference))
        if shared:
            raise ConfigError(
                f"{source}: the owner's records and the reference non-members share record "
                f"{shared[0]}; the reference records must be known non-members"
            )
    if isinstance(owner, tuple) and isinstance(reference, tuple):
        check_reachable(len(owner), len(reference), test, alpha, source)
    reference_settings = raw.get("reference")
    target = raw["target"] if isinstance(raw["target"], dict) else {}
    labels_only = target.get("output") in ("labels", "top_k")
    attack = raw.get("attack") or default_attack(
        reference_settings, raw.get("population") or None, labels_only=labels_only
    )
    audit_raw = {k: v for k, v in raw.items() if k in AUDIT_KEYS}
    audit_raw["split"] = {
        "members": list(owner) if isinstance(owner, tuple) else owner,
        "nonmembers": list(reference) if isinstance(reference, tuple) else reference,
    }
    if raw.get("population") is not None:
        audit_raw["split"]["population"] = raw["population"]
    audit_raw["attacks"] = [attack]
    audit_raw["evaluation"] = {**(raw.get("evaluation") or {}), "bootstrap": 0}
    audit_raw.setdefault("title", "Owner audit")
    config = parse_config(audit_raw, source=source)
    if config.target.external is None:
        raise ConfigError(
            f"{source}: an owner audit is of a trained model (target.path or target.url): a "
            "recipe target would be trained on the owner's records alone. To simulate owners "
            "of a model miaudit trains, see miaudit.owner.rejection_rate and "
            "benchmarks/owner_power.py"
        )
    name = attack if isinstance(attack, str) else attack.get("name")
    return config, {"test": test, "alpha": alpha, "attack": str(name), "raw": raw}


def run_owner_config(
    path: str | Path,
    *,
    output: str | None,
    data_dir: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run an owner config; returns owner.json's content."""
    from miaudit.pipeline import run_config
    from miaudit.pipeline.lm_config import LMAuditConfig
    from miaudit.pipeline.output import prepare_output_dir, write_outputs
    from miaudit.report.owner import render_owner_html

    config, owner = parse_owner_config(read_yaml(path), source=str(path))
    out = output or config.output
    if out is None:
        raise ConfigError("no output directory: set 'output' in the config or pass --output")
    if isinstance(config, LMAuditConfig):
        from miaudit.pipeline.owner_lm import LM_NO_PSEUDO_TARGETS, run_lm_owner

        result, owner_ids = run_lm_owner(
            config,
            owner,
            out,
            source=str(path),
            data_dir=data_dir,
            progress=progress,
            overwrite=overwrite,
        )
    else:
        prepare_output_dir(out, identity=None, files=FILES)
        result = run_config(
            config,
            output=str(Path(out) / "audit"),
            data_dir=data_dir,
            progress=progress,
            overwrite=overwrite,
            pseudo_targets=True,
        )
        owner_ids = np.asarray(result.record_ids)[np.asarray(result.membership, dtype=bool)]
    run = result.attacks[0]
    if run.error is not None or run.scores is None:
        raise ConfigError(f"the owner audit's attack {owner['attack']} failed: {run.error}")
    member = np.asarray(result.membership, dtype=bool)
    answer = answer_owner(
        run.scores,
        member,
        getattr(run, "pseudo_targets", None),
        attack=owner["attack"],
        test=owner["test"],
        alpha=owner["alpha"],
        seed=config.seed,
    )
    if isinstance(config, LMAuditConfig):
        answer.usage_note = answer.power_note = f"{owner['attack']}: {LM_NO_PSEUDO_TARGETS}"
    doc = {
        "kind": "owner",
        "target_kind": "language model" if isinstance(config, LMAuditConfig) else "classifier",
        "answer": answer.test.answer(),
        "power_caveat": answer.power_caveat(),
        **answer.to_dict(),
        "owner_record_ids": owner_ids.tolist(),
        "config": owner["raw"],
    }
    html = render_owner_html(
        answer.test.to_dict(),
        answer.owner_scores,
        answer.reference_scores,
        attack=owner["attack"],
        answer=answer.test.answer(),
        usage=doc["usage"],
        usage_note=answer.usage_note,
        power=answer.power,
        power_note=answer.power_note,
        power_caveat=answer.power_caveat(),
        resemblance=answer.resemblance,
        threshold=doc["threshold_test"],
    )
    write_outputs(
        out,
        {
            "owner.json": lambda p: Path(p).write_text(json.dumps(doc, indent=1, default=str)),
            "owner.html": lambda p: Path(p).write_text(html, encoding="utf-8"),
        },
    )
    return doc
