"""Canary exposure (Carlini et al. 2019, "The Secret Sharer", USENIX Security): how much a
generative text model memorised random secrets inserted into its training records, with no
non-member set.

A *format* such as ``"my secret code is {digits:6}"`` defines a candidate space R (every
filling of its slots, uniform and independent per character). Canaries are drawn from R,
each inserted ``r`` times into the training records (``r`` in e.g. 1, 4, 16, 64), and some
are drawn but never inserted (controls, ``r = 0``). For a trained model,

    exposure(s) = log2 |R| - log2 rank(s),

where rank(s) orders every candidate by its log-perplexity ``-log p(s)`` under the model
(the whole canary text, summed over its tokens as in the paper's sec. 3, not averaged;
lowest log-perplexity is rank 1). Ties count in the canary's favour: rank(s) = 1 + the
number of candidates with strictly lower log-perplexity, so exposure is never understated.
Exposure is exact (every candidate scored) when |R| is at most ``exact_limit``; otherwise
the paper's sec. 4.3 approximation: fit a skew-normal to the log-perplexities of a seeded
sample of candidates and take exposure = -log2 CDF(log-perplexity of s).

With no memorisation the rank is uniform on 1..|R| and the expected exposure is
log2|R| - log2(|R|!)/|R| ~ 1/ln 2 = 1.44 bits (Stirling; :func:`random_exposure`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from miaudit.errors import ConfigError

DIGITS = "0123456789"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: longest canary text (characters) a format may produce
MAX_FORMAT_CHARS = 1000
#: most characters in one slot
MAX_SLOT_CHARS = 64
_SLOT = re.compile(r"\{([a-z]+):(\d+)\}")


@dataclass(frozen=True)
class CanaryFormat:
    """A canary format: fixed text and slots, one alphabet per slot character.

    Attributes:
        text: the format as written (``{digits:N}``, ``{letters:N}``; ``{{``/``}}`` for braces).
        parts: the canary as a sequence of fixed strings (str) and slot characters (the
            slot's alphabet, a tuple of one-character strings).
    """

    text: str
    parts: tuple[str | tuple[str, ...], ...]

    @property
    def alphabets(self) -> list[tuple[str, ...]]:
        """The alphabet of each slot character, left to right."""
        return [p for p in self.parts if isinstance(p, tuple)]

    @property
    def size(self) -> int:
        """|R|, the number of candidates."""
        return math.prod(len(a) for a in self.alphabets)

    @property
    def log2_size(self) -> float:
        return float(sum(math.log2(len(a)) for a in self.alphabets))

    def render(self, choice: Sequence[int]) -> str:
        """The candidate with slot character ``i`` set to ``alphabets[i][choice[i]]``."""
        out, k = [], 0
        for p in self.parts:
            if isinstance(p, tuple):
                out.append(p[int(choice[k])])
                k += 1
            else:
                out.append(p)
        return "".join(out)

    def index(self, choice: Sequence[int]) -> int:
        """The candidate's position in lexicographic (mixed-radix) order."""
        i = 0
        for c, a in zip(choice, self.alphabets, strict=True):
            i = i * len(a) + int(c)
        return i

    def choice(self, index: int) -> list[int]:
        """The inverse of :meth:`index`."""
        out = []
        for a in reversed(self.alphabets):
            index, c = divmod(int(index), len(a))
            out.append(c)
        return out[::-1]

    def random_choices(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform candidates (with replacement) as slot choices, int64 (n, slots)."""
        sizes = np.array([len(a) for a in self.alphabets])
        return (rng.random((n, sizes.size)) * sizes).astype(np.int64)


def parse_format(text: str, *, alphabet: str = LETTERS) -> CanaryFormat:
    """A :class:`CanaryFormat` from ``text``: ``{digits:N}`` (0-9) and ``{letters:N}`` (the
    characters of ``alphabet``) slots, N >= 1.

    Raises:
        ConfigError: no slot, an unknown slot, fewer than 2 candidates, a bad alphabet, a
            slot longer than :data:`MAX_SLOT_CHARS` or a canary longer than
            :data:`MAX_FORMAT_CHARS` characters.
    """
    if not isinstance(text, str) or not text:
        raise ConfigError(f"canary format must be a non-empty string, got {text!r}")
    if not isinstance(alphabet, str) or len(alphabet) < 2 or len(set(alphabet)) != len(alphabet):
        raise ConfigError(
            f"canary alphabet must be a string of at least 2 distinct characters, got {alphabet!r}"
        )
    if any(c in "{}" for c in alphabet):
        raise ConfigError("canary alphabet must not contain braces")
    parts: list[str | tuple[str, ...]] = []
    fixed: list[str] = []
    i, length = 0, 0
    while i < len(text):
        if text.startswith("{{", i) or text.startswith("}}", i):
            fixed.append(text[i])
            i += 2
            continue
        if text[i] == "}":
            raise ConfigError(f"canary format {text!r}: unmatched '}}' at {i} (write '}}}}')")
        if text[i] != "{":
            fixed.append(text[i])
            i += 1
            continue
        m = _SLOT.match(text, i)
        if m is None:
            raise ConfigError(
                f"canary format {text!r}: bad slot at {i}; write {{digits:N}} or {{letters:N}}"
            )
        kind, n = m.group(1), int(m.group(2))
        if kind not in ("digits", "letters"):
            raise ConfigError(f"canary format {text!r}: unknown slot {kind!r} (digits, letters)")
        if not 1 <= n <= MAX_SLOT_CHARS:
            raise ConfigError(
                f"canary format {text!r}: a slot needs 1 to {MAX_SLOT_CHARS} characters, got {n}"
            )
        if fixed:
            parts.append("".join(fixed))
            fixed = []
        chars = tuple(DIGITS if kind == "digits" else alphabet)
        parts.extend([chars] * n)
        i = m.end()
    if fixed:
        parts.append("".join(fixed))
    fmt = CanaryFormat(text, tuple(parts))
    length = sum(1 if isinstance(p, tuple) else len(p) for p in parts)
    if not fmt.alphabets:
        raise ConfigError(f"canary format {text!r} has no slot ({{digits:N}} or {{letters:N}})")
    if length > MAX_FORMAT_CHARS:
        raise ConfigError(
            f"canary format {text!r} gives {length} characters (at most {MAX_FORMAT_CHARS})"
        )
    if fmt.size < 2:
        raise ConfigError(f"canary format {text!r} has fewer than 2 candidates")
    return fmt


@dataclass(frozen=True)
class Canary:
    """One drawn canary: its text, slot choices and how often it was inserted (0: control)."""

    text: str
    choice: tuple[int, ...]
    repetitions: int


def draw_canaries(
    fmt: CanaryFormat,
    repetitions: Sequence[int],
    per_repetition: int,
    controls: int,
    *,
    seed: int,
) -> list[Canary]:
    """``per_repetition`` distinct canaries for each count in ``repetitions`` and ``controls``
    more with repetition 0, all distinct, drawn uniformly from the format (seeded)."""
    need = per_repetition * len(repetitions) + controls
    if need > fmt.size:
        raise ConfigError(f"{need} distinct canaries asked of a format with {fmt.size} candidates")
    rng = np.random.default_rng([int(seed), 0xC4A])
    seen: set[tuple[int, ...]] = set()
    drawn: list[tuple[int, ...]] = []
    while len(drawn) < need:
        for row in fmt.random_choices(need - len(drawn), rng):
            key = tuple(int(c) for c in row)
            if key not in seen and len(drawn) < need:
                seen.add(key)
                drawn.append(key)
    counts = [int(r) for r in repetitions for _ in range(per_repetition)] + [0] * controls
    return [Canary(fmt.render(c), c, r) for c, r in zip(drawn, counts, strict=True)]


def insert_canaries(texts: Sequence[str], canaries: Sequence[Canary], *, seed: int) -> list[str]:
    """The training records: ``texts`` in their order with each canary's copies added as
    records of their own at seeded uniformly random positions (the trainer reshuffles its
    windows every epoch, so the positions only decide the records' indices)."""
    copies = [c.text for c in canaries for _ in range(c.repetitions)]
    rng = np.random.default_rng([int(seed), 0x1E5])
    total = len(texts) + len(copies)
    where = np.zeros(total, dtype=bool)
    where[rng.choice(total, size=len(copies), replace=False)] = True
    order = rng.permutation(len(copies))
    out, t, c = [], iter(texts), iter(order)
    for is_canary in where:
        out.append(copies[next(c)] if is_canary else next(t))
    return out


def exact_rank(all_nll: np.ndarray, nll: float) -> int:
    """1 + the number of candidates with log-perplexity strictly below ``nll``."""
    return 1 + int(np.count_nonzero(np.asarray(all_nll) < nll))


def exposure_from_rank(rank: float, log2_size: float) -> float:
    """log2 |R| - log2 rank."""
    return float(log2_size - math.log2(rank))


@dataclass(frozen=True)
class SkewNormalFit:
    """A skew-normal fitted to candidates' log-perplexities (Carlini et al. 2019, sec. 4.3)."""

    shape: float
    loc: float
    scale: float

    @classmethod
    def fit(cls, sample_nll: np.ndarray) -> SkewNormalFit:
        x = np.asarray(sample_nll, dtype=np.float64)
        a, loc, scale = stats.skewnorm.fit(x)
        return cls(float(a), float(loc), float(scale))

    def exposure(self, nll: float, log2_size: float) -> float:
        """-log2 CDF(nll), clipped to [0, log2 |R|] (rank between 1 and |R|)."""
        log_cdf = float(stats.skewnorm.logcdf(nll, self.shape, self.loc, self.scale))
        return float(min(max(-log_cdf / math.log(2), 0.0), log2_size))


def random_exposure(size: int) -> float:
    """The expected exposure of a candidate with a uniformly random rank in 1..|R|:
    log2|R| - E[log2 rank] = log2|R| - log2(|R|!)/|R|, which tends to 1/ln 2 = 1.4427."""
    n = int(size)
    if n > 10**15:  # the Stirling remainder ln(2 pi n) / (2 n ln 2) is below 1e-13
        return 1 / math.log(2)
    return float(math.log2(n) - math.lgamma(n + 1) / (n * math.log(2)))
