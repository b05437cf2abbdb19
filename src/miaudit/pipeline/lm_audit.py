"""The language-model audit (issue 12): split text records, train (or take) the target LM, train
reference LMs through the reference engine, compute the LM kind's signals, run the LM
attacks and evaluate them with the project's metrics (:func:`lm_audit`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from miaudit.attacks.lm import LMAttack, LMKnowledge, LMReference
from miaudit.errors import ConfigError, MiauditError
from miaudit.kinds import CausalLMKind, LMAnswers, Signals
from miaudit.metrics import evaluate_scores
from miaudit.reference._threads import torch_threads
from miaudit.results import AttackResult, AuditResult, TargetSummary
from miaudit.text.answers import TokenAnswers
from miaudit.text.lm import LMRecipe, TorchLM, check_long_records, pack, train_target_lm
from miaudit.text.models import LMSpec
from miaudit.text.records import TextRecords
from miaudit.text.tokenize import Tokenizer, build_tokenizer
from miaudit.validation import check_int

SplitBy = Literal["record", "user"]


@dataclass(frozen=True)
class LMSplit:
    """Disjoint record sets: target members, target non-members, attacker's population.

    Attributes:
        members, nonmembers: indices into the records, sorted.
        population: the attacker's records (reference LMs train on them, RMIA's z).
    """

    members: np.ndarray
    nonmembers: np.ndarray
    population: np.ndarray


def split_records(
    records: TextRecords,
    *,
    members: int,
    nonmembers: int,
    population: int | None,
    by: SplitBy = "record",
    seed: int = 0,
) -> LMSplit:
    """A seeded split of ``records``. ``by="user"`` keeps each user's records in one set:
    users are shuffled and assigned whole, in turn, to members, non-members and population
    until each set holds at least its count (so the counts may be exceeded by one user's
    records; the last set takes what is left when ``population`` is None)."""
    n = len(records)
    members = check_int(members, "split members", low=1)
    nonmembers = check_int(nonmembers, "split nonmembers", low=1)
    if population is not None:
        population = check_int(population, "split population", low=0)
    want = members + nonmembers + (population or 0)
    if want > n:
        raise ConfigError(
            f"the split asks for {want} records but {records.name} has {n}; lower "
            "split members/nonmembers/population or use more records (a smaller chunk_chars)"
        )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7E47]))
    if by == "record":
        order = rng.permutation(n)
        a, b = members, members + nonmembers
        c = n if population is None else b + population
        parts = order[:a], order[a:b], order[b:c]
    elif by == "user":
        if records.users is None:
            raise ConfigError(
                f"split by user needs records with users; {records.name} has none "
                "(Tiny Shakespeare blocks, WikiText-2 lines or a .jsonl 'user' field have them)"
            )
        users = np.asarray(records.users, dtype=object)
        names = sorted(set(records.users))
        order = rng.permutation(len(names))
        by_user = {u: np.flatnonzero(users == u) for u in names}
        targets = [members, nonmembers, population]
        parts_l: list[list[int]] = [[], [], []]
        k = 0
        for i in order:
            while k < 3 and targets[k] is not None and len(parts_l[k]) >= targets[k]:
                k += 1
            if k == 3:
                break
            parts_l[k].extend(by_user[names[i]].tolist())
        if len(parts_l[0]) < members or len(parts_l[1]) < nonmembers:
            raise ConfigError(
                f"{records.name}: too few users' records for the split by user "
                f"({len(parts_l[0])} members, {len(parts_l[1])} non-members)"
            )
        parts = tuple(np.asarray(p, dtype=np.int64) for p in parts_l)
    else:
        raise ConfigError(f"split by must be 'record' or 'user', got {by!r}")
    return LMSplit(*(np.sort(p).astype(np.int64) for p in parts))


def split_listed(
    records: TextRecords,
    *,
    members: np.ndarray,
    nonmembers: np.ndarray | int,
    population: int | None,
    seed: int = 0,
) -> LMSplit:
    """A split whose members the user lists (a model miaudit did not train: only its owner
    knows its training records); non-members listed too, or a count drawn (seeded) from the
    other records; the population is the rest (``population`` of them, drawn seeded)."""
    n = len(records)

    def listed(values: np.ndarray, what: str) -> np.ndarray:
        idx = np.asarray(values, dtype=np.int64)
        if idx.ndim != 1 or idx.size == 0:
            raise ConfigError(f"{what} must list at least one record index")
        if idx.min() < 0 or idx.max() >= n:
            raise ConfigError(f"{what} lists indices outside 0..{n - 1} ({records.name})")
        if np.unique(idx).size != idx.size:
            raise ConfigError(f"{what} lists a record twice")
        return np.sort(idx)

    mem = listed(members, "split.members")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7E47]))
    rest = np.setdiff1d(np.arange(n), mem)
    if isinstance(nonmembers, int | np.integer):
        if not 1 <= int(nonmembers) <= rest.size:
            raise ConfigError(
                f"split.nonmembers {nonmembers} must be between 1 and the {rest.size} records "
                "outside split.members"
            )
        non = np.sort(rng.permutation(rest)[: int(nonmembers)])
    else:
        non = listed(nonmembers, "split.nonmembers")
        both = np.intersect1d(mem, non)
        if both.size:
            raise ConfigError(f"split.members and split.nonmembers both list record {both[0]}")
    rest = np.setdiff1d(rest, non)
    if population is not None:
        if population > rest.size:
            raise ConfigError(
                f"split.population {population} is more than the {rest.size} records left"
            )
        rest = np.sort(rng.permutation(rest)[:population])
    return LMSplit(mem, non, rest.astype(np.int64))


@dataclass(frozen=True)
class LMReferenceSettings:
    """Reference LMs: how many (for attacks that do not say), where they are cached, which
    executor trains them (see :func:`miaudit.reference.train_references`)."""

    num_models: int = 4
    cache_dir: str | Path | None = None
    executor: str = "serial"
    workers: int | None = None
    #: most population records scored as RMIA's z (all when None)
    num_population: int | None = 1000
    #: torch threads per model, for the target (trained and queried) and each reference LM
    #: alike (results are bitwise reproducible only for one count; on a busy 2-core machine
    #: 2 threads trained a small model 100x slower than 1, issue 16)
    threads: int = 1


@dataclass
class _Timer:
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, start: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def _lm_answers(tokens: TokenAnswers, texts: Sequence[str]) -> LMAnswers:
    from miaudit.kinds._causal_lm import zlib_bits

    return LMAnswers(tokens, np.array([zlib_bits(t) for t in texts], dtype=np.float64))


def lm_audit(
    records: TextRecords,
    attacks: Sequence[LMAttack],
    *,
    split: LMSplit,
    spec: LMSpec | None = None,
    tokenizer: Tokenizer | str = "char",
    vocab_size: int = 512,
    target: Any = None,
    recipe: Any = None,
    long_records: str = "window",
    reference: LMReferenceSettings | None = None,
    seed: int = 0,
    bootstrap: int = 200,
    progress: bool = False,
    config: dict[str, Any] | None = None,
    title: str = "Membership-inference audit of a language model",
    labels: Sequence[str] | None = None,
) -> AuditResult:
    """Audit a causal language model on text records.

    Either ``spec`` (miaudit trains the target on ``split.members`` with ``tokenizer``, a
    tokenizer or "char"/"bpe" fitted on all the records) or ``target`` (a trained LM with
    ``answers(texts)``, e.g. :func:`miaudit.text.load_hf_lm`), with ``recipe`` to train its
    reference LMs (default: ``spec``'s :class:`LMRecipe`). Attacks that fail keep their
    error in the result; the others' scores are kept.
    """
    reference = reference or LMReferenceSettings()
    long_records = check_long_records(long_records)
    attacks = list(attacks)
    if not attacks:
        raise ConfigError("no attacks to run")
    labels = [a.name for a in attacks] if labels is None else [str(x) for x in labels]
    if len(labels) != len(attacks) or len(set(labels)) != len(labels):
        raise ConfigError(f"attack labels must be distinct, one per attack: {labels}")
    if (spec is None) == (target is None):
        raise ConfigError("give the target LM's recipe (spec) or a trained target, not both")
    timer = _Timer()
    with torch_threads(check_int(reference.threads, "reference threads", low=1)):
        return _lm_audit(
            records,
            attacks,
            split,
            spec,
            tokenizer,
            vocab_size,
            target,
            recipe,
            long_records,
            reference,
            seed,
            bootstrap,
            progress,
            config,
            title,
            timer,
            labels,
        )


def _lm_audit(
    records: TextRecords,
    attacks: list[LMAttack],
    split: LMSplit,
    spec: LMSpec | None,
    tokenizer: Tokenizer | str,
    vocab_size: int,
    target: Any,
    recipe: Any,
    long_records: str,
    reference: LMReferenceSettings,
    seed: int,
    bootstrap: int,
    progress: bool,
    config: dict[str, Any] | None,
    title: str,
    timer: _Timer,
    labels: list[str],
) -> AuditResult:
    needs_ref = any(a.needs().reference for a in attacks)
    texts = records.texts
    start = time.perf_counter()
    if spec is not None:
        if isinstance(tokenizer, str):
            tokenizer = build_tokenizer(tokenizer, texts, vocab_size=vocab_size)
        recipe = recipe or LMRecipe(spec, tokenizer.to_json(), long_records)
    elif needs_ref and recipe is None:
        raise ConfigError(
            "attacks with reference LMs need a recipe to train them (LMRecipe, or the "
            "Hugging Face fine-tuning recipe); or run only lm_loss, zlib_ratio, "
            "lowercase_ratio, min_k, min_k_pp"
        )
    timer.add("tokenizer", start)
    member_texts = [texts[i] for i in split.members]
    if spec is not None:
        start = time.perf_counter()
        target, _ = train_target_lm(
            member_texts, tokenizer, spec, seed=seed, long_records=long_records
        )
        timer.add("train_target", start)
    audited = np.concatenate([split.members, split.nonmembers])
    membership = np.r_[np.ones(split.members.size, bool), np.zeros(split.nonmembers.size, bool)]
    audited_texts = [texts[i] for i in audited]
    kind = CausalLMKind(lowercase=any(a.needs().lowercase for a in attacks))
    start = time.perf_counter()
    answers = kind.query(target, audited_texts)
    timer.add("query_target", start)
    wanted = sorted({s for a in attacks for s in a.needs().signals})
    signals = kind.signals(answers, wanted)
    n_pop = split.population.size
    pop_rows = split.population
    if reference.num_population is not None and n_pop > reference.num_population:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x18]))
        pop_rows = np.sort(rng.choice(split.population, reference.num_population, replace=False))
    pop_signals = None
    if any(a.needs().population for a in attacks):
        if pop_rows.size == 0:
            raise ConfigError(
                "lm_rmia needs population records: leave records for split population"
            )
        start = time.perf_counter()
        pop_texts = [texts[i] for i in pop_rows]
        pop_signals = CausalLMKind().signals(
            _lm_answers(target.answers(pop_texts), pop_texts), ("loss", "log_likelihood")
        )
        timer.add("query_population", start)

    refs = _reference_models(
        attacks, recipe, target, texts, split, pop_rows, audited, reference, seed, progress, timer
    )
    results = []
    for a, label in zip(attacks, labels, strict=True):
        start = time.perf_counter()
        kind_ref = a.needs().reference
        try:
            knowledge = LMKnowledge(
                reference=refs.get(kind_ref) if kind_ref else None,
                population=pop_signals,
                seed=seed,
            )
            scores = a.fit(knowledge).score_samples(signals)
            metrics = evaluate_scores(membership, scores, n_resamples=bootstrap, seed=seed)
            error = None
        except (MiauditError, ValueError, RuntimeError) as exc:
            scores, metrics, error = None, None, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        timer.timings[f"attack:{label}"] = seconds
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
                queries_per_record=2.0 if a.needs().lowercase else 1.0,
            )
        )
    return _result(
        results,
        target,
        answers,
        membership,
        audited,
        audited_texts,
        records,
        split,
        spec,
        long_records,
        refs,
        seed,
        timer,
        config,
        title,
    )


def _reference_models(
    attacks: Sequence[LMAttack],
    recipe: Any,
    target: Any,
    texts: Sequence[str],
    split: LMSplit,
    pop_rows: np.ndarray,
    audited: np.ndarray,
    settings: LMReferenceSettings,
    seed: int,
    progress: bool,
    timer: _Timer,
) -> dict[str, LMReference]:
    """Train the reference LMs the attacks ask for, one plan per kind: "random" (random
    halves of the audited records, LiRA/RMIA) and "population" (the attacker's population
    records, the reference-model ratio); the largest count an attack asks for is trained
    and every attack of that kind reads them all."""
    from miaudit.reference import ReferencePlan, random_plan, train_references
    from miaudit.reference._plan import model_seeds

    counts: dict[str, int] = {}
    for a in attacks:
        kind = a.needs().reference
        if kind:
            k = a.num_reference_models() or settings.num_models
            counts[kind] = max(counts.get(kind, 0), int(k))
    if not counts:
        return {}
    # tokenise only the records a reference LM trains on or is queried on (the audited
    # ones and the population), packed to one width: the engine's pool and query sets share it
    used = np.unique(np.concatenate([audited, split.population]))
    seqs = target.encode([texts[i] for i in used])
    packed = pack(seqs, max(len(s) for s in seqs))

    def rows(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The packed records ``index`` (corpus indices) and their (unused) zero labels."""
        at = np.searchsorted(used, index)
        return packed[at], np.zeros(len(index), dtype=np.int64)

    audited_texts = [texts[i] for i in audited]
    wants_pop = any(a.needs().population and a.needs().reference == "random" for a in attacks)
    out: dict[str, LMReference] = {}
    for kind, k in counts.items():
        start = time.perf_counter()
        if kind == "random":
            pool = audited
            plan = random_plan(pool.size, k, seed=seed)
        else:
            pool = split.population
            n_train = min(split.members.size, pool.size - 1)
            if n_train < 1:
                raise ConfigError(
                    "reference_ratio needs population records to train its reference LM: "
                    "leave records for split population"
                )
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EF]))
            train = []
            for _ in range(k):
                perm = rng.permutation(pool.size)
                train.append(np.sort(perm[:n_train]))
            plan = ReferencePlan(
                n_pool=pool.size,
                train_indices=tuple(train),
                out_indices=tuple(np.setdiff1d(np.arange(pool.size), t) for t in train),
                seeds=model_seeds(np.random.SeedSequence([int(seed), 0x5EF]), k),
                kind="shadow",
            )
        queries = {"audited": rows(audited)}
        if kind == "random" and wants_pop:
            queries["population"] = rows(pop_rows)
        run = train_references(
            plan,
            *rows(pool),
            recipe,
            queries=queries,
            executor=settings.executor,
            workers=settings.workers,
            cache_dir=settings.cache_dir,
            progress=progress,
            threads_per_model=settings.threads,
        )
        kind_signals = CausalLMKind()
        aud = tuple(
            kind_signals.signals(
                _lm_answers(m["audited"], audited_texts), ("loss", "log_likelihood")
            )
            for m in run.outputs
        )
        pop = None
        if "population" in queries:
            pop_texts = [texts[i] for i in pop_rows]
            pop = tuple(
                kind_signals.signals(
                    _lm_answers(m["population"], pop_texts), ("loss", "log_likelihood")
                )
                for m in run.outputs
            )
        if kind == "random":
            audited_in = plan.membership()
        else:
            audited_in = np.zeros((audited.size, k), dtype=bool)
        out[kind] = LMReference(aud, audited_in, pop)
        timer.add(f"reference_models:{kind}", start)
    return out


def _result(
    results: list[AttackResult],
    target: Any,
    answers: LMAnswers,
    membership: np.ndarray,
    audited: np.ndarray,
    audited_texts: list[str],
    records: TextRecords,
    split: LMSplit,
    spec: LMSpec | None,
    long_records: str,
    refs: dict[str, LMReference],
    seed: int,
    timer: _Timer,
    config: dict[str, Any] | None,
    title: str,
) -> AuditResult:
    from miaudit.pipeline.api import package_versions

    tok = answers.tokens
    mem, non = tok.subset(np.flatnonzero(membership)), tok.subset(np.flatnonzero(~membership))
    tokenizer = target.tokenizer
    model = spec.model if spec is not None else type(getattr(target, "module", target)).__name__
    lm_info = {
        # miaudit's tokenizers say their kind; a Hugging Face one is named by its class
        "tokenizer": getattr(tokenizer, "kind", None) or f"Hugging Face {type(tokenizer).__name__}",
        "vocab_size": int(getattr(tokenizer, "vocab_size", 0) or 0),
        "context": int(target.context),
        "long_records": long_records,
        "records": records.name,
        "n_population": int(split.population.size),
        "member_loss": float(mem.loss().mean()),
        "nonmember_loss": float(non.loss().mean()),
        "member_perplexity": float(np.exp(mem.loss().mean())),
        "nonmember_perplexity": float(np.exp(non.loss().mean())),
        "reference_models": {k: len(r.audited) for k, r in refs.items()},
    }
    summary = TargetSummary(
        model=model,
        params=spec.to_dict() if spec is not None else {},
        num_classes=lm_info["vocab_size"],
        n_members=int(membership.sum()),
        n_nonmembers=int((~membership).sum()),
        train_accuracy=mem.accuracy(),
        test_accuracy=non.accuracy(),
        dataset=records.name,
        language_model=lm_info,
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
        timings=timer.timings,
        record_texts=audited_texts,
    )


def signals_of(target: TorchLM, texts: Sequence[str], names: Sequence[str]) -> Signals:
    """The LM kind's signals ``names`` of ``target`` on ``texts`` (a convenience)."""
    lowercase = "lowercase_ratio" in names
    kind = CausalLMKind(lowercase=lowercase)
    return kind.signals(kind.query(target, list(texts)), list(names))


def _records(config: Any, data_dir: str | None) -> TextRecords:
    from miaudit.text.records import load_corpus, read_text_file

    t = config.text
    if "corpus" in t:
        records = load_corpus(
            t["corpus"],
            unit=t["unit"],
            chunk_chars=t.get("chunk_chars"),
            data_dir=t.get("data_dir", data_dir),
        )
    else:
        records = read_text_file(t["path"], unit=t["unit"], chunk_chars=t.get("chunk_chars"))
    if t.get("max_records") is not None and len(records) > t["max_records"]:
        records = records[np.arange(t["max_records"])]
    return records


def config_split(config: Any, records: TextRecords) -> LMSplit:
    """The split a validated LM config asks for: drawn from counts, or listed indices."""
    s = config.split
    if isinstance(s["members"], int):
        return split_records(
            records,
            members=s["members"],
            nonmembers=s["nonmembers"],
            population=s["population"],
            by=s["by"],
            seed=config.seed,
        )
    from miaudit.data.split import read_index_list

    def indices(value: Any, what: str) -> Any:
        return value if isinstance(value, int) else read_index_list(value, what=what)

    return split_listed(
        records,
        members=indices(s["members"], "split.members"),
        nonmembers=indices(s["nonmembers"], "split.nonmembers"),
        population=s["population"],
        seed=config.seed,
    )


def run_lm_config(
    config: Any,
    *,
    output: str | Path,
    data_dir: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    records: TextRecords | None = None,
) -> AuditResult:
    """Run a validated :class:`~miaudit.pipeline.lm_config.LMAuditConfig` and write
    results.json, scores.csv and report.html into ``output`` (checked before any work).
    ``records``: the config's text records when the caller has read them already."""
    from miaudit.pipeline.output import OUTPUT_FILES, prepare_output_dir, save_result

    identity_config = {k: v for k, v in config.raw.items() if k != "output"}
    prepare_output_dir(
        output,
        identity={"kind": "audit", "config": identity_config},
        files=OUTPUT_FILES,
        overwrite=overwrite,
    )
    records = _records(config, data_dir) if records is None else records
    split = config_split(config, records)
    settings = LMReferenceSettings(**config.reference)
    target = recipe = None
    if config.hf is not None:
        from miaudit.text.hf import HFLMRecipe, load_hf_lm

        hf = config.hf
        target = load_hf_lm(
            hf["hf"], long_records=config.long_records, allow_pickle=hf["allow_pickle"]
        )
        if "base" in hf:
            recipe = HFLMRecipe(
                hf["base"],
                long_records=config.long_records,
                allow_pickle=hf["allow_pickle"],
                **hf["fine_tune"],
            )
    result = lm_audit(
        records,
        config.attacks,
        split=split,
        spec=config.spec,
        tokenizer=config.tokenizer,
        vocab_size=config.vocab_size,
        target=target,
        recipe=recipe,
        long_records=config.long_records,
        reference=settings,
        seed=config.seed,
        bootstrap=config.bootstrap,
        progress=progress,
        config=identity_config | ({"output": config.output} if config.output else {}),
        title=config.title or "Membership-inference audit of a language model",
        labels=config.labels,
    )
    if config.hf is not None:  # where the audited model came from, with its files' sha256
        from miaudit.text.hf import directory_digest

        result.target.source = {
            "format": "huggingface",
            "path": str(Path(config.hf["hf"]).resolve()),
            "sha256": directory_digest(Path(config.hf["hf"])),
        }
    save_result(result, output, overwrite=True)
    return result
