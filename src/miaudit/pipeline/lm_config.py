"""The configuration of a language-model audit (a YAML file with a ``text:`` section),
validated completely before anything is read or trained (issue 12).

::

    text: {corpus: tiny_shakespeare, unit: chunk, chunk_chars: 128}  # or path: my.jsonl
    tokenizer: {kind: char}                      # or {kind: bpe, vocab_size: 512}
    split: {members: 500, nonmembers: 500, population: 1000, by: record}   # or by: user
    target: {model: transformer_lm, layers: 2, d_model: 128, epochs: 20}   # or {hf: dir}
    attacks: all                                 # or [lm_loss, {name: min_k, k: 10}, ...]
    reference: {num_models: 4, cache_dir: cache, executor: serial}
    evaluation: {bootstrap: 200}
    seed: 0
    output: runs/lm
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miaudit.attacks.lm import LM_ATTACKS, LMAttack, make_lm_attack
from miaudit.errors import ConfigError, MiauditError
from miaudit.pipeline._yaml import read_yaml
from miaudit.pipeline.config import (
    MAX_SEED,
    _bootstrap,
    _check_keys,
    _int,
    _known,
    _mapping,
    _opt_str,
    _split_set,
)
from miaudit.text.lm import LONG_RECORDS
from miaudit.text.models import LMSpec
from miaudit.text.records import CORPORA, UNITS

TOP_KEYS = {
    "title",
    "text",
    "tokenizer",
    "split",
    "target",
    "attacks",
    "reference",
    "evaluation",
    "seed",
    "output",
}
_HF_KEYS = {"hf", "allow_pickle", "base", "fine_tune", "long_records"}
_FINE_TUNE_KEYS = {"epochs", "batch_size", "lr", "weight_decay"}


@dataclass(frozen=True)
class LMAuditConfig:
    """A validated language-model audit configuration (see the module docstring)."""

    text: dict[str, Any]
    split: dict[str, Any]
    attacks: tuple[LMAttack, ...]
    labels: tuple[str, ...]
    spec: LMSpec | None
    hf: dict[str, Any] | None
    tokenizer: str
    vocab_size: int
    long_records: str
    reference: dict[str, Any]
    bootstrap: int
    seed: int
    output: str | None
    title: str | None
    raw: dict[str, Any] = field(default_factory=dict)


def is_lm_config(raw: Any) -> bool:
    """Whether a parsed YAML configuration is a language-model audit's (a ``text:`` key)."""
    return isinstance(raw, dict) and "text" in raw


def load_lm_config(path: str | Path) -> LMAuditConfig:
    return parse_lm_config(read_yaml(path), source=str(path))


def _text(value: Any, source: str) -> dict[str, Any]:
    t = _mapping(value, "text", source)
    _check_keys(
        t, {"corpus", "path", "unit", "chunk_chars", "max_records", "data_dir"}, source, "text"
    )
    if ("corpus" in t) == ("path" in t):
        raise ConfigError(f"{source}: text needs exactly one of 'corpus' or 'path'")
    if "corpus" in t:
        _known(str(t["corpus"]), list(CORPORA), "text corpus", source)
    else:
        path = _opt_str(t["path"], "text.path", source)
        if not Path(path).is_file():  # type: ignore[arg-type]
            raise ConfigError(f"{source}: text.path {path!r} does not exist")
    unit = t.get("unit", "block")
    if unit not in UNITS:
        raise ConfigError(f"{source}: text.unit must be one of {', '.join(UNITS)}, got {unit!r}")
    out = {"unit": unit, **{k: t[k] for k in ("corpus", "path", "data_dir") if k in t}}
    if unit == "chunk" or "chunk_chars" in t:
        out["chunk_chars"] = _int(
            t.get("chunk_chars"), "text.chunk_chars", source, minimum=1, maximum=1_000_000
        )
    if t.get("max_records") is not None:
        out["max_records"] = _int(t["max_records"], "text.max_records", source, minimum=2)
    return out


def _split(value: Any, source: str) -> dict[str, Any]:
    s = _mapping(value, "split", source)
    _check_keys(s, {"members", "nonmembers", "population", "by"}, source, "split")
    for key in ("members", "nonmembers"):
        if key not in s:
            raise ConfigError(f"{source}: split needs '{key}' (a number of records)")
    by = s.get("by", "record")
    if by not in ("record", "user"):
        raise ConfigError(f"{source}: split.by must be 'record' or 'user', got {by!r}")
    members = _split_set(s["members"], "split.members", source)
    nonmembers = _split_set(s["nonmembers"], "split.nonmembers", source)
    if isinstance(members, int) and not isinstance(nonmembers, int):
        raise ConfigError(
            f"{source}: split.nonmembers lists records but split.members is a count; list "
            "both, or give split.members as the indices of the records the target trained on"
        )
    if not isinstance(members, int) and by == "user":
        raise ConfigError(f"{source}: split.by: user draws the sets; it takes counts, not lists")
    return {
        "members": members,
        "nonmembers": nonmembers,
        "population": None
        if s.get("population") is None
        else _int(s["population"], "split.population", source, minimum=0),
        "by": by,
    }


def _attacks(value: Any, source: str) -> tuple[tuple[LMAttack, ...], tuple[str, ...]]:
    """The attacks and their labels (``label:`` tells two variants of one attack apart, as
    in classifier configs; default the attack's name)."""
    names = LM_ATTACKS.names()
    items = names if value == "all" else value
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: 'attacks' must be 'all' or a non-empty list of LM attacks")
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
        _known(name, names, "language-model attack", source)
        try:
            out.append(make_lm_attack(name, **params))
        except MiauditError as exc:
            raise ConfigError(f"{source}: attack {name}: {exc}") from None
        labels.append(label)
    if len(set(labels)) != len(labels):
        raise ConfigError(
            f"{source}: two attacks share a label in {labels}; give variants a 'label'"
        )
    return tuple(out), tuple(labels)


def _reference(value: Any, source: str) -> dict[str, Any]:
    r = _mapping(value or {}, "reference", source)
    _check_keys(
        r,
        {"num_models", "cache_dir", "executor", "workers", "threads", "num_population"},
        source,
        "reference",
    )
    out: dict[str, Any] = {
        "num_models": _int(
            r.get("num_models", 4), "reference.num_models", source, minimum=1, maximum=10_000
        )
    }
    if r.get("cache_dir") is not None:
        out["cache_dir"] = _opt_str(r["cache_dir"], "reference.cache_dir", source)
    executor = r.get("executor", "serial")
    if executor not in ("serial", "process", "ray"):
        raise ConfigError(
            f"{source}: reference.executor for language models must be serial, process or ray, "
            f"got {executor!r}"
        )
    out["executor"] = executor
    if r.get("workers") is not None:
        out["workers"] = _int(r["workers"], "reference.workers", source, minimum=1, maximum=1024)
    out["threads"] = _int(r.get("threads", 1), "reference.threads", source, minimum=1, maximum=1024)
    if "num_population" in r:
        np_ = r["num_population"]
        out["num_population"] = (
            None if np_ is None else _int(np_, "reference.num_population", source, minimum=1)
        )
    return out


def _target(value: Any, source: str) -> tuple[LMSpec | None, dict[str, Any] | None, str]:
    t = dict(_mapping(value, "target", source))
    long_records = t.pop("long_records", "window")
    if long_records not in LONG_RECORDS:
        raise ConfigError(
            f"{source}: target.long_records must be one of {', '.join(LONG_RECORDS)}, "
            f"got {long_records!r}"
        )
    if "hf" in t:
        _check_keys({**t, "long_records": 0}, _HF_KEYS, source, "target")
        hf = {"hf": _opt_str(t["hf"], "target.hf", source)}
        if not Path(hf["hf"]).is_dir():  # type: ignore[arg-type]
            raise ConfigError(f"{source}: target.hf {hf['hf']!r} is not a directory")
        hf["allow_pickle"] = t.get("allow_pickle", False)
        if not isinstance(hf["allow_pickle"], bool):
            raise ConfigError(f"{source}: target.allow_pickle must be true or false")
        if t.get("base") is not None:
            hf["base"] = _opt_str(t["base"], "target.base", source)
            if not Path(hf["base"]).is_dir():
                raise ConfigError(f"{source}: target.base {hf['base']!r} is not a directory")
        ft = _mapping(t.get("fine_tune") or {}, "target.fine_tune", source)
        _check_keys(ft, _FINE_TUNE_KEYS, source, "target.fine_tune")
        hf["fine_tune"] = dict(ft)
        return None, hf, long_records
    try:
        return LMSpec.from_mapping(t), None, long_records
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def parse_lm_config(raw: Any, *, source: str = "config") -> LMAuditConfig:
    """Validate a language-model audit configuration (the parsed YAML)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    _check_keys(raw, TOP_KEYS, source)
    for key in ("text", "split", "target", "attacks"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'")
    tok = _mapping(raw.get("tokenizer") or {}, "tokenizer", source)
    _check_keys(tok, {"kind", "vocab_size"}, source, "tokenizer")
    kind = tok.get("kind", "char")
    if kind not in ("char", "bpe"):
        raise ConfigError(f"{source}: tokenizer.kind must be 'char' or 'bpe', got {kind!r}")
    if kind == "char" and "vocab_size" in tok:
        raise ConfigError(
            f"{source}: tokenizer.vocab_size applies to kind: bpe (a character tokenizer's "
            "vocabulary is the corpus's characters)"
        )
    vocab = _int(
        tok.get("vocab_size", 512), "tokenizer.vocab_size", source, minimum=258, maximum=1_000_000
    )
    spec, hf, long_records = _target(raw["target"], source)
    if hf is not None and tok:
        raise ConfigError(
            f"{source}: a Hugging Face target brings its own tokenizer; drop 'tokenizer'"
        )
    attacks, labels = _attacks(raw["attacks"], source)
    ev = _mapping(raw.get("evaluation") or {}, "evaluation", source)
    _check_keys(ev, {"bootstrap"}, source, "evaluation")
    split = _split(raw["split"], source)
    if hf is not None and isinstance(split["members"], int):
        raise ConfigError(
            f"{source}: a model miaudit does not train (target.hf) needs split.members as the "
            "indices of the records it was trained on (a list, a .npy file or a text file of "
            "one index per line): miaudit cannot draw them"
        )
    with_refs = [a.name for a in attacks if a.needs().reference]
    if hf is not None and with_refs and "base" not in hf:
        raise ConfigError(
            f"{source}: {', '.join(with_refs)} train reference LMs, which for a Hugging Face "
            "target are fine-tuned from its base model: set target.base to the base's directory"
        )
    needs_pop = [
        a.name for a in attacks if a.needs().reference == "population" or a.needs().population
    ]
    if needs_pop and split["population"] == 0:
        raise ConfigError(
            f"{source}: {', '.join(needs_pop)} need the attacker's population records; "
            "set split.population above 0"
        )
    return LMAuditConfig(
        text=_text(raw["text"], source),
        split=split,
        attacks=attacks,
        labels=labels,
        spec=spec,
        hf=hf,
        tokenizer=kind,
        vocab_size=vocab,
        long_records=long_records,
        reference=_reference(raw.get("reference"), source),
        bootstrap=_bootstrap(ev.get("bootstrap", 200), source),
        seed=_int(raw.get("seed", 0), "seed", source, minimum=0, maximum=MAX_SEED),
        output=_opt_str(raw.get("output"), "output", source),
        title=_opt_str(raw.get("title"), "title", source),
        raw=raw,
    )
