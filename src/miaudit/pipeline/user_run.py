"""``miaudit user-audit CONFIG``: the user-level audit of a text model from a config (issue 13
part 2; Song & Shmatikov 2019, :mod:`miaudit.pipeline.user_audit`).

A language-model config (``text``, ``tokenizer``, ``target``: a recipe miaudit trains, as in
``configs/lm_shakespeare.yaml``; records with users, e.g. Tiny Shakespeare blocks, whose
users are the speakers) with a ``user_audit:`` section instead of ``split`` and
``attacks``::

    user_audit:
      members: 25              # users the target trains on: a count (drawn) or a list of names
      nonmembers: 25           # audited users outside its training: a count or a list
      reference_users: 20      # known non-members for the p-values (count or list); 0: the
                               # cross-fitted shadow-out null (approximate)
      shadow_users: 40         # the attacker's users (count or list; default all the rest)
      num_shadow: 8            # shadow LMs
      shadow_members: 25       # shadow users per shadow LM (default: as many as members)
      texts_per_user: 16       # each user keeps a seeded choice of this many texts
      classifier: logistic     # or linear_svm
      alpha: 0.05
      drop_first_line: true    # cut each text's first line (a Tiny Shakespeare turn's NAME:)

The audited users are the members and the non-members (the truth is known: miaudit trains
the target on the members' texts), so the outputs have the audit's AUC beside each user's
score, p-value and decision. Everything is checked before any training (unknown users,
users in two roles, too few users or shadow users, a level the p-values cannot reach);
user_audit.json and user_audit.html (the answer first) are written.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.errors import ConfigError
from miaudit.pipeline._yaml import read_yaml
from miaudit.pipeline.config import MAX_SEED, _bootstrap, _check_keys, _int, _mapping, _opt_str
from miaudit.pipeline.lm_config import _reference, _target, _text
from miaudit.pipeline.user_audit import CLASSIFIERS
from miaudit.text.models import LMSpec
from miaudit.text.records import TextRecords
from miaudit.validation import check_number

TOP_KEYS = {
    "title",
    "text",
    "tokenizer",
    "target",
    "user_audit",
    "reference",
    "evaluation",
    "seed",
    "output",
}
USER_KEYS = {
    "members",
    "nonmembers",
    "reference_users",
    "shadow_users",
    "num_shadow",
    "shadow_members",
    "texts_per_user",
    "classifier",
    "alpha",
    "drop_first_line",
}
ROLES = ("members", "nonmembers", "reference_users", "shadow_users")
FILES = ("user_audit.json", "user_audit.html")


@dataclass(frozen=True)
class UserAuditConfig:
    """A validated user-audit configuration (see the module docstring). ``roles`` maps each
    of :data:`ROLES` to a count, a tuple of user names, or None (shadow users: the rest)."""

    text: dict[str, Any]
    tokenizer: str
    vocab_size: int
    spec: LMSpec
    long_records: str
    roles: dict[str, int | tuple[str, ...] | None]
    num_shadow: int
    shadow_members: int | None
    texts_per_user: int
    classifier: str
    alpha: float
    drop_first_line: bool
    reference: dict[str, Any]
    bootstrap: int
    seed: int
    output: str | None
    title: str | None
    raw: dict[str, Any] = field(default_factory=dict)


def _role(value: Any, key: str, source: str) -> int | tuple[str, ...]:
    if isinstance(value, list):
        names = tuple(str(v) for v in value)
        if not names:
            raise ConfigError(f"{source}: user_audit.{key} lists no users")
        if len(set(names)) != len(names):
            raise ConfigError(f"{source}: user_audit.{key} lists a user twice")
        return names
    minimum = 0 if key == "reference_users" else 1
    return _int(value, f"user_audit.{key}", source, minimum=minimum, maximum=10_000_000)


def _min_reference(alpha: float) -> int:
    """The fewest reference users whose empirical p-value can reach alpha: 1/(1+n) <= alpha."""
    return max(1, math.ceil(1 / alpha - 1 - 1e-9))


def parse_user_config(raw: Any, *, source: str = "config") -> UserAuditConfig:
    """Validate a user-audit configuration (the parsed YAML) without reading any data."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    _check_keys(raw, TOP_KEYS, source)
    for key in ("text", "target", "user_audit"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'")
    tok = _mapping(raw.get("tokenizer") or {}, "tokenizer", source)
    _check_keys(tok, {"kind", "vocab_size"}, source, "tokenizer")
    kind = tok.get("kind", "char")
    if kind not in ("char", "bpe"):
        raise ConfigError(f"{source}: tokenizer.kind must be 'char' or 'bpe', got {kind!r}")
    vocab = _int(
        tok.get("vocab_size", 512), "tokenizer.vocab_size", source, minimum=258, maximum=1_000_000
    )
    spec, hf, long_records = _target(raw["target"], source)
    if spec is None or hf is not None:
        raise ConfigError(
            f"{source}: the user-level audit trains shadow LMs of the target's recipe; "
            "give target as a miaudit recipe (model, layers, d_model, ...), not target.hf"
        )
    u = _mapping(raw["user_audit"], "user_audit", source)
    _check_keys(u, USER_KEYS, source, "user_audit")
    for key in ("members", "nonmembers"):
        if key not in u:
            raise ConfigError(f"{source}: user_audit needs '{key}' (a number of users or a list)")
    roles: dict[str, int | tuple[str, ...] | None] = {
        "members": _role(u["members"], "members", source),
        "nonmembers": _role(u["nonmembers"], "nonmembers", source),
        "reference_users": _role(u.get("reference_users", 0), "reference_users", source),
        "shadow_users": None
        if u.get("shadow_users") is None
        else _role(u["shadow_users"], "shadow_users", source),
    }
    listed = [(k, v) for k, v in roles.items() if isinstance(v, tuple)]
    for i, (a, names_a) in enumerate(listed):
        for b, names_b in listed[i + 1 :]:
            both = sorted(set(names_a) & set(names_b))  # type: ignore[arg-type]
            if both:
                raise ConfigError(
                    f"{source}: user {both[0]!r} is in both user_audit.{a} and user_audit.{b}; "
                    "each user has one role"
                )
    alpha = float(
        check_number(
            u.get("alpha", 0.05), f"{source}: 'user_audit.alpha'", low=0, high=1, closed="neither"
        )
    )
    n_ref = roles["reference_users"]
    n_ref = len(n_ref) if isinstance(n_ref, tuple) else n_ref
    if n_ref and n_ref < _min_reference(alpha):
        raise ConfigError(
            f"{source}: with {n_ref} reference users the smallest p-value is "
            f"{1 / (1 + n_ref):.3g} > alpha = {alpha:g}; use at least {_min_reference(alpha)} "
            "reference users (or 0 for the shadow-out null)"
        )
    shadow = roles["shadow_users"]
    n_shadow_users = len(shadow) if isinstance(shadow, tuple) else shadow
    if n_shadow_users is not None and n_shadow_users < 2:
        raise ConfigError(f"{source}: the user-level audit needs at least 2 shadow users")
    shadow_members = u.get("shadow_members")
    if shadow_members is not None:
        shadow_members = _int(shadow_members, "user_audit.shadow_members", source, minimum=1)
        if n_shadow_users is not None and shadow_members >= n_shadow_users:
            raise ConfigError(
                f"{source}: user_audit.shadow_members ({shadow_members}) must be fewer than "
                f"the {n_shadow_users} shadow users (each shadow LM needs out users)"
            )
    classifier = u.get("classifier", "logistic")
    if classifier not in CLASSIFIERS:
        raise ConfigError(
            f"{source}: user_audit.classifier must be one of {', '.join(CLASSIFIERS)}, "
            f"got {classifier!r}"
        )
    drop = u.get("drop_first_line", False)
    if not isinstance(drop, bool):
        raise ConfigError(f"{source}: user_audit.drop_first_line must be true or false")
    ev = _mapping(raw.get("evaluation") or {}, "evaluation", source)
    _check_keys(ev, {"bootstrap"}, source, "evaluation")
    return UserAuditConfig(
        text=_text(raw["text"], source),
        tokenizer=kind,
        vocab_size=vocab,
        spec=spec,
        long_records=long_records,
        roles=roles,
        num_shadow=_int(
            u.get("num_shadow", 4), "user_audit.num_shadow", source, minimum=1, maximum=10_000
        ),
        shadow_members=shadow_members,
        texts_per_user=_int(
            u.get("texts_per_user", 16), "user_audit.texts_per_user", source, minimum=1
        ),
        classifier=classifier,
        alpha=alpha,
        drop_first_line=drop,
        reference=_reference(raw.get("reference"), source),
        bootstrap=_bootstrap(ev.get("bootstrap", 200), source),
        seed=_int(raw.get("seed", 0), "seed", source, minimum=0, maximum=MAX_SEED),
        output=_opt_str(raw.get("output"), "output", source),
        title=_opt_str(raw.get("title"), "title", source),
        raw=raw,
    )


def resolve_users(
    config: UserAuditConfig, records: TextRecords, *, source: str = "config"
) -> dict[str, tuple[str, ...]]:
    """Each role's users: listed users checked against ``records`` (known, with at least
    ``texts_per_user`` texts), counts drawn (seeded) from the other eligible users in the
    order members, non-members, reference users, shadow users (default: the rest)."""
    if records.users is None:
        raise ConfigError(
            f"{source}: a user-level audit needs records with users; {records.name} has none"
        )
    counts: dict[str, int] = {}
    for name in records.users:
        counts[name] = counts.get(name, 0) + 1
    k = config.texts_per_user
    for role, value in config.roles.items():
        for name in value if isinstance(value, tuple) else ():
            if name not in counts:
                raise ConfigError(f"{source}: user_audit.{role}: unknown user {name!r}")
            if counts[name] < k:
                raise ConfigError(
                    f"{source}: user_audit.{role}: user {name!r} has {counts[name]} texts, "
                    f"fewer than texts_per_user = {k}"
                )
    taken = {n for v in config.roles.values() if isinstance(v, tuple) for n in v}
    eligible = sorted(n for n, c in counts.items() if c >= k and n and n not in taken)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x05E7]))
    pool = [eligible[i] for i in rng.permutation(len(eligible))]
    out: dict[str, tuple[str, ...]] = {}
    for role in ROLES:
        value = config.roles[role]
        if isinstance(value, tuple):
            out[role] = value
            continue
        n = len(pool) if value is None else int(value)
        if n > len(pool):
            raise ConfigError(
                f"{source}: user_audit.{role} asks for {n} users but only {len(pool)} users "
                f"with at least {k} texts are left in {records.name}; lower the counts or "
                "texts_per_user"
            )
        out[role], pool = tuple(pool[:n]), pool[n:]
    n_shadow = len(out["shadow_users"])
    if n_shadow < 2:
        raise ConfigError(f"{source}: the user-level audit needs at least 2 shadow users")
    n_in = config.shadow_members or len(out["members"])
    if n_in >= n_shadow:
        raise ConfigError(
            f"{source}: each shadow LM trains on {n_in} shadow users "
            "(user_audit.shadow_members, default the number of members) but there are only "
            f"{n_shadow}; give more shadow users or a smaller shadow_members"
        )
    return out


def _load_records(config: UserAuditConfig, data_dir: str | None) -> TextRecords:
    from miaudit.pipeline.lm_audit import _records

    records = _records(config, data_dir)
    if config.drop_first_line and records.users is not None:
        records = TextRecords(
            tuple(t.split("\n", 1)[1] if "\n" in t else t for t in records.texts),
            records.users,
            records.name,
        )
    return records


def run_user_config(
    path: str | Path,
    *,
    output: str | None,
    data_dir: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run a user-audit config; returns user_audit.json's content."""
    from miaudit.pipeline.output import prepare_output_dir, write_outputs
    from miaudit.pipeline.user_audit import UserLevelAudit
    from miaudit.report.user_audit import render_user_audit_html
    from miaudit.text import LMRecipe, build_tokenizer, train_target_lm
    from miaudit.text.ranks import user_records

    source = str(path)
    config = parse_user_config(read_yaml(path), source=source)
    out = output or config.output
    if out is None:
        raise ConfigError("no output directory: set 'output' in the config or pass --output")
    prepare_output_dir(out, identity=None, files=FILES, overwrite=overwrite)
    records = _load_records(config, data_dir)
    roles = resolve_users(config, records, source=source)
    k = config.texts_per_user
    everyone = [u for role in ROLES for u in roles[role]]
    keep = np.sort(
        np.concatenate(user_records(records, everyone, texts_per_user=k, seed=config.seed))
    )
    records = records[keep]
    timings: dict[str, float] = {}
    start = time.perf_counter()
    tok = build_tokenizer(config.tokenizer, records.texts, vocab_size=config.vocab_size)
    members = set(roles["members"])
    assert records.users is not None
    texts = [t for t, u in zip(records.texts, records.users, strict=True) if u in members]
    target, loss = train_target_lm(
        texts, tok, config.spec, seed=config.seed, long_records=config.long_records
    )
    timings["target"] = time.perf_counter() - start
    ref = config.reference
    start = time.perf_counter()
    audit = UserLevelAudit(
        LMRecipe(config.spec, tok.to_json(), config.long_records),
        num_shadow=config.num_shadow,
        shadow_members=config.shadow_members or len(roles["members"]),
        classifier=config.classifier,
        seed=config.seed,
        executor=ref["executor"],
        workers=ref.get("workers"),
        cache_dir=ref.get("cache_dir"),
        threads=ref["threads"],
        progress=progress,
    ).fit(records, roles["shadow_users"])
    timings["shadow"] = time.perf_counter() - start
    users = roles["members"] + roles["nonmembers"]
    truth = np.r_[np.ones(len(roles["members"]), bool), np.zeros(len(roles["nonmembers"]), bool)]
    start = time.perf_counter()
    result = audit.audit(
        target,
        users,
        membership=truth,
        texts_per_user=k,
        bootstrap=config.bootstrap,
        reference_users=roles["reference_users"] or None,
        alpha=config.alpha,
    )
    timings["audit"] = time.perf_counter() - start
    doc = result_document(result, roles=roles, loss=loss, config=config, timings=timings)
    html = render_user_audit_html(doc, result.null_scores, title=config.title)
    write_outputs(
        out,
        {
            "user_audit.json": lambda p: Path(p).write_text(json.dumps(doc, indent=1)),
            "user_audit.html": lambda p: Path(p).write_text(html, encoding="utf-8"),
        },
    )
    return doc


def answer(result: Any) -> str:
    """One sentence: whose texts were used, at level alpha."""
    used = [u for u, r in zip(result.users, result.reject, strict=True) if r]
    n = len(result.users)
    if not used:
        return (
            f"No evidence at alpha = {result.alpha:g}: none of the {n} audited users' texts "
            "look like training data. This does not prove they were not used."
        )
    shown = ", ".join(used[:10]) + (f" and {len(used) - 10} more" if len(used) > 10 else "")
    return (
        f"{len(used)} of the {n} audited users' texts were used to train the model, at "
        f"alpha = {result.alpha:g} (each user's p-value <= alpha): {shown}."
    )


def result_document(
    result: Any,
    *,
    roles: dict[str, tuple[str, ...]],
    loss: float,
    config: UserAuditConfig,
    timings: dict[str, float],
) -> dict[str, Any]:
    """user_audit.json's content."""
    m = result.metrics
    rows = [
        {
            "user": u,
            "member": None if result.membership is None else bool(result.membership[i]),
            "score": float(result.scores[i]),
            "p_value": float(result.p_values[i]),
            "reject": bool(result.reject[i]),
        }
        for i, u in enumerate(result.users)
    ]
    return {
        "kind": "user_audit",
        "answer": answer(result),
        "alpha": result.alpha,
        "null": result.null,
        "n_null": int(result.null_scores.size),
        "classifier": result.classifier,
        "texts_per_user": result.texts_per_user,
        "shadow_accuracy": result.shadow_accuracy,
        "auc": None if m is None else float(m.auc),
        "auc_ci": None if m is None or m.auc_ci is None else [float(x) for x in m.auc_ci],
        "target_training_loss": float(loss),
        "users": rows,
        "null_scores": [float(x) for x in result.null_scores],
        "roles": {k: list(v) for k, v in roles.items()},
        "seconds": timings,
        "config": config.raw,
    }
