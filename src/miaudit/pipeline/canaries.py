"""``miaudit canaries CONFIG``: canary exposure of a language model trained on a corpus with
inserted canaries (Carlini et al. 2019, "The Secret Sharer"; :mod:`miaudit.text.canaries`).

Every key is checked before any data is read or model trained. Example::

    seed: 0
    text: {corpus: tiny_shakespeare, unit: chunk, chunk_chars: 128, max_records: 2000}
    tokenizer: {kind: char}            # or {kind: bpe, vocab_size: 512}
    target: {model: transformer_lm, layers: 2, d_model: 128, heads: 4, context: 128,
             epochs: 6, batch_size: 32, lr: 0.002}
    canaries: {format: "my secret code is {digits:6}", repetitions: [1, 4, 16, 64],
               canaries_per_repetition: 4, controls: 8, exact_limit: 1000000,
               sample_size: 10000}
    output: runs/canaries

``text`` (the same section as a language-model audit's, :mod:`miaudit.pipeline.lm_config`):
``corpus`` (tiny_shakespeare, wikitext2) or ``path`` (.txt/.jsonl), the record ``unit``
(line, block, chunk), ``chunk_chars`` and ``max_records`` (the first N records; all when
absent). The tokenizer is fitted on the training records (canaries
included) plus the format's characters, so no candidate has an unknown character.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from miaudit.errors import ConfigError, DataError, short_repr
from miaudit.pipeline._yaml import read_yaml
from miaudit.pipeline.config import MAX_SEED, _check_keys, _int, _mapping, _opt_str
from miaudit.text.canaries import LETTERS, CanaryFormat, parse_format
from miaudit.text.exposure import EXACT_LIMIT, SAMPLE_SIZE, ExposureResult
from miaudit.text.models import LMSpec
from miaudit.text.records import CORPORA, UNITS

TOP_KEYS = {"seed", "text", "tokenizer", "target", "canaries", "output"}
DATA_KEYS = {"corpus", "path", "unit", "chunk_chars", "max_records", "data_dir"}
TOKENIZER_KEYS = {"kind", "vocab_size"}
CANARY_KEYS = {
    "format",
    "alphabet",
    "repetitions",
    "canaries_per_repetition",
    "controls",
    "exact_limit",
    "sample_size",
}
#: most copies of one canary, and most canary records in all
MAX_REPETITIONS = 100_000
MAX_CANARY_RECORDS = 1_000_000


@dataclass(frozen=True)
class CanaryConfig:
    """A validated ``miaudit canaries`` config."""

    seed: int
    data: dict[str, Any]
    tokenizer: dict[str, Any]
    target: LMSpec
    format: str
    alphabet: str
    repetitions: tuple[int, ...]
    canaries_per_repetition: int
    controls: int
    exact_limit: int
    sample_size: int
    output: str | None = None
    parsed: CanaryFormat | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("parsed")
        d["target"] = self.target.to_dict()
        d["repetitions"] = list(self.repetitions)
        return d


def load_canary_config(path: str | Path) -> CanaryConfig:
    """Read and validate a canaries config (:func:`parse_canary_config`)."""
    return parse_canary_config(read_yaml(path), source=str(path))


def parse_canary_config(raw: Any, *, source: str = "config") -> CanaryConfig:
    """Validate a canaries config given as the parsed YAML; one ConfigError per problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    _check_keys(raw, TOP_KEYS, source)
    for key in ("text", "target", "canaries"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'")
    seed = _int(raw.get("seed", 0), "seed", source, minimum=0, maximum=MAX_SEED)
    data = _data(raw["text"], source)
    tokenizer = _tokenizer(raw.get("tokenizer") or {"kind": "char"}, source)
    target_raw = _mapping(raw["target"], "target", source)
    try:
        target = LMSpec.from_mapping(target_raw)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    c = _mapping(raw["canaries"], "canaries", source)
    _check_keys(c, CANARY_KEYS, source, "canaries")
    if "format" not in c:
        raise ConfigError(f"{source}: canaries needs a 'format', e.g. 'my code is {{digits:6}}'")
    alphabet = c.get("alphabet", LETTERS)
    if not isinstance(alphabet, str):
        raise ConfigError(
            f"{source}: 'canaries.alphabet' must be a string, got {short_repr(alphabet)}"
        )
    try:
        fmt = parse_format(c["format"], alphabet=alphabet)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    reps = _repetitions(c.get("repetitions", [1, 4, 16, 64]), source)
    per = _int(
        c.get("canaries_per_repetition", 4),
        "canaries.canaries_per_repetition",
        source,
        minimum=1,
        maximum=10_000,
    )
    controls = _int(c.get("controls", 8), "canaries.controls", source, minimum=0, maximum=10_000)
    exact_limit = _int(
        c.get("exact_limit", EXACT_LIMIT), "canaries.exact_limit", source, minimum=0, maximum=10**8
    )
    sample_size = _int(
        c.get("sample_size", SAMPLE_SIZE),
        "canaries.sample_size",
        source,
        minimum=100,
        maximum=10**7,
    )
    _check_sizes(fmt, reps, per, controls, target, source)
    return CanaryConfig(
        seed=seed,
        data=data,
        tokenizer=tokenizer,
        target=target,
        format=fmt.text,
        alphabet=alphabet,
        repetitions=reps,
        canaries_per_repetition=per,
        controls=controls,
        exact_limit=exact_limit,
        sample_size=sample_size,
        output=_opt_str(raw.get("output"), "output", source),
        parsed=fmt,
    )


def _data(value: Any, source: str) -> dict[str, Any]:
    d = _mapping(value, "text", source)
    _check_keys(d, DATA_KEYS, source, "text")
    if ("corpus" in d) == ("path" in d):
        raise ConfigError(f"{source}: text needs exactly one of 'corpus' or 'path'")
    name = _opt_str(d.get("corpus"), "text.corpus", source)
    if name is not None and name not in CORPORA:
        raise ConfigError(
            f"{source}: unknown corpus {short_repr(name)} (valid: {', '.join(CORPORA)})"
        )
    path = _opt_str(d.get("path"), "text.path", source)
    if path is not None:
        if Path(path).suffix.lower() not in (".txt", ".jsonl"):
            raise ConfigError(f"{source}: 'text.path' must be a .txt or .jsonl file, got {path!r}")
        if not Path(path).is_file():
            raise ConfigError(f"{source}: text file not found: {path}")
    unit = d.get("unit", "chunk")
    if unit not in UNITS:
        raise ConfigError(
            f"{source}: 'text.unit' must be one of {', '.join(UNITS)}, got {short_repr(unit)}"
        )
    chunk = d.get("chunk_chars", 128 if unit == "chunk" else None)
    if chunk is not None:
        chunk = _int(chunk, "text.chunk_chars", source, minimum=1, maximum=10**6)
    records = d.get("max_records")
    if records is not None:
        records = _int(records, "text.max_records", source, minimum=1, maximum=10**8)
    return {
        "name": name,
        "path": path,
        "unit": unit,
        "chunk_chars": chunk,
        "records": records,
        "data_dir": _opt_str(d.get("data_dir"), "text.data_dir", source),
    }


def _tokenizer(value: Any, source: str) -> dict[str, Any]:
    d = _mapping(value, "tokenizer", source)
    _check_keys(d, TOKENIZER_KEYS, source, "tokenizer")
    kind = d.get("kind", "char")
    if kind not in ("char", "bpe"):
        raise ConfigError(f"{source}: 'tokenizer.kind' must be char or bpe, got {short_repr(kind)}")
    vocab = _int(
        d.get("vocab_size", 512), "tokenizer.vocab_size", source, minimum=258, maximum=1_000_000
    )
    return {"kind": kind, "vocab_size": vocab}


def _repetitions(value: Any, source: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{source}: 'canaries.repetitions' must be a non-empty list of counts, "
            f"got {short_repr(value)}"
        )
    reps = tuple(
        _int(r, f"canaries.repetitions[{i}]", source, minimum=1, maximum=MAX_REPETITIONS)
        for i, r in enumerate(value)
    )
    if len(set(reps)) != len(reps):
        raise ConfigError(f"{source}: 'canaries.repetitions' lists a count twice: {list(reps)}")
    return reps


def _check_sizes(
    fmt: CanaryFormat, reps: tuple[int, ...], per: int, controls: int, target: LMSpec, source: str
) -> None:
    need = per * len(reps) + controls
    if need > fmt.size:
        raise ConfigError(
            f"{source}: {need} distinct canaries asked of a format with {fmt.size} candidates"
        )
    if per * sum(reps) > MAX_CANARY_RECORDS:
        raise ConfigError(
            f"{source}: {per * sum(reps):,} canary records (at most {MAX_CANARY_RECORDS:,})"
        )
    length = len(fmt.render([0] * len(fmt.alphabets)))
    if length > target.context:
        raise ConfigError(
            f"{source}: a canary has {length} characters, more than the target context "
            f"({target.context}); shorten the format or raise target.context"
        )


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB; Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class CanaryRun:
    """The result of :func:`run_canaries`: exposures, training facts, times and memory."""

    config: CanaryConfig
    exposure: ExposureResult
    training: dict[str, Any]
    wall_seconds: float
    peak_rss_mb: float


def run_canaries(config: CanaryConfig, *, data_dir: str | None = None) -> CanaryRun:
    """Load the records, insert the canaries, train the target LM, measure exposure."""
    from miaudit.text.canaries import draw_canaries, insert_canaries
    from miaudit.text.exposure import measure_exposure
    from miaudit.text.lm import train_target_lm
    from miaudit.text.records import text_records
    from miaudit.text.tokenize import build_tokenizer

    start = time.perf_counter()
    d = config.data
    records = text_records(
        d["name"] or d["path"],
        unit=d["unit"],
        chunk_chars=d["chunk_chars"],
        data_dir=d["data_dir"] or data_dir,
    )
    texts = list(records.texts)
    if d["records"] is not None:
        if d["records"] > len(texts):
            raise DataError(
                f"text.max_records asks for {d['records']} records but {records.name} has "
                f"{len(texts)}"
            )
        texts = texts[: d["records"]]
    fmt = config.parsed or parse_format(config.format, alphabet=config.alphabet)
    canaries = draw_canaries(
        fmt,
        config.repetitions,
        config.canaries_per_repetition,
        config.controls,
        seed=config.seed,
    )
    train = insert_canaries(texts, canaries, seed=config.seed)
    alphabet = "".join(sorted({ch for a in fmt.alphabets for ch in a}))
    tok = build_tokenizer(
        config.tokenizer["kind"],
        train + [fmt.render([0] * len(fmt.alphabets)) + alphabet],
        vocab_size=config.tokenizer["vocab_size"],
    )
    t0 = time.perf_counter()
    lm, loss = train_target_lm(train, tok, config.target, seed=config.seed)
    train_seconds = time.perf_counter() - t0
    exposure = measure_exposure(
        lm,
        fmt,
        canaries,
        exact_limit=config.exact_limit,
        sample_size=config.sample_size,
        seed=config.seed,
    )
    training = {
        "records": len(texts),
        "canary_records": len(train) - len(texts),
        "tokenizer": tok.kind,
        "vocab_size": tok.vocab_size,
        "loss": float(loss),
        "seconds": train_seconds,
    }
    return CanaryRun(config, exposure, training, time.perf_counter() - start, peak_rss_mb())
