"""The causal-language-model kind: records are texts, answers per-token log-probabilities
(:class:`~miaudit.text.TokenAnswers`), signals the sequence-level membership signals of
the LM attacks (REFERENCES.md, "Targets beyond classifiers")."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.errors import DataError
from miaudit.kinds._kind import resolve_names
from miaudit.kinds._signals import Signals
from miaudit.kinds._tokens import TokenAnswers

#: variances below this count as a one-hot next-token distribution (Min-K%++'s z-score is
#: then 0: the token is exactly as likely as the model's expectation)
_VAR_FLOOR = 1e-12


def zlib_bits(text: str) -> float:
    """Length in bits of the zlib-compressed UTF-8 text (Carlini et al. 2021, sec. 6.1:
    their code compresses with the default level)."""
    return 8.0 * len(zlib.compress(text.encode("utf-8")))


@dataclass(frozen=True, eq=False)
class LMAnswers:
    """A causal LM's answers on n text records.

    Attributes:
        tokens: per-token answers on the texts.
        zlib_bits: float64 (n,), each text's zlib length in bits (a property of the text,
            computed at query time so signals stay a pure function of the answers).
        lowercase: per-token answers on the lower-cased texts, or None when not queried.
    """

    tokens: TokenAnswers
    zlib_bits: np.ndarray
    lowercase: TokenAnswers | None = None

    @property
    def n(self) -> int:
        return self.tokens.n

    def subset(self, index: np.ndarray) -> LMAnswers:
        low = None if self.lowercase is None else self.lowercase.subset(index)
        return LMAnswers(self.tokens.subset(index), np.asarray(self.zlib_bits)[index], low)


def calibrated_tokens(tokens: TokenAnswers) -> np.ndarray:
    """Min-K%++'s per-token score (Zhang et al. 2025, eq. 3): (log p_i - mu_i) / sigma_i,
    0 on padding and where the next-token distribution is one-hot (sigma_i = 0)."""
    sigma = np.sqrt(np.maximum(tokens.var, 0.0))
    ok = tokens.mask & (tokens.var > _VAR_FLOOR)
    out = np.zeros_like(tokens.logp)
    np.divide(tokens.logp - tokens.mu, sigma, out=out, where=ok)
    return out


class CausalLMKind:
    """Causal language models (miaudit's recipes and Hugging Face models).

    ``query(target, texts)`` asks the target for its teacher-forced answers (one query per
    record; a second per record on its lower-cased text when ``lowercase``). Signals:

    * ``loss``: mean token loss -mean_i log p_i (n,) (the log-perplexity);
    * ``log_likelihood``: sum_i log p_i (n,);
    * ``token_logp``: log p_i (n, L), masked (Min-K%, Shi et al. 2024);
    * ``token_calibrated``: (log p_i - mu_i) / sigma_i (n, L), masked (Min-K%++);
    * ``zlib_ratio``: loss / zlib bits (n,) (Carlini et al. 2021);
    * ``lowercase_ratio``: loss / loss of the lower-cased text (n,) (Carlini et al. 2021).
    """

    name = "causal_lm"
    signal_names: tuple[str, ...] = (
        "loss",
        "log_likelihood",
        "token_logp",
        "token_calibrated",
        "zlib_ratio",
        "lowercase_ratio",
    )

    def __init__(self, *, lowercase: bool = False) -> None:
        self.lowercase = bool(lowercase)

    def query(self, target: Any, records: Sequence[str] | Any) -> LMAnswers:
        texts = list(getattr(records, "texts", records))
        tokens = target.answers(texts)
        low = target.answers([t.lower() for t in texts]) if self.lowercase else None
        bits = np.array([zlib_bits(t) for t in texts], dtype=np.float64)
        return LMAnswers(tokens, bits, low)

    def signals(self, answers: LMAnswers, names: Sequence[str] | None = None) -> Signals:
        if not isinstance(answers, LMAnswers):
            raise DataError(f"the causal_lm kind reads LMAnswers, got {type(answers).__name__}")
        tok = answers.tokens
        values: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        for name in resolve_names(self, names):
            if name == "loss":
                values[name] = tok.loss()
            elif name == "log_likelihood":
                values[name] = tok.log_likelihood()
            elif name == "token_logp":
                values[name], masks[name] = tok.logp, tok.mask
            elif name == "token_calibrated":
                values[name], masks[name] = calibrated_tokens(tok), tok.mask
            elif name == "zlib_ratio":
                values[name] = tok.loss() / answers.zlib_bits
            else:  # lowercase_ratio
                if answers.lowercase is None:
                    raise DataError(
                        "lowercase_ratio needs the target's answers on lower-cased records "
                        "(CausalLMKind(lowercase=True))"
                    )
                values[name] = tok.loss() / np.maximum(answers.lowercase.loss(), 1e-12)
        return Signals(tok.n, values, masks)

    def __repr__(self) -> str:
        return f"<CausalLMKind lowercase={self.lowercase}>"


#: the causal-LM kind without the lower-case query
CAUSAL_LM = CausalLMKind()
