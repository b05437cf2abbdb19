"""Text records for language-model audits: the corpora in the data directory (Tiny
Shakespeare, WikiText-2) and a user's ``.txt`` / ``.jsonl`` files.

A record is one text (a line, a blank-line block, a fixed-length chunk, or a JSONL
object's ``text``); membership is decided per record. Records may carry a ``user`` (a
Tiny Shakespeare speaker, a WikiText-2 article, a JSONL ``user`` field), so a split can
keep one user's records together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from miaudit.data import download as dl
from miaudit.data.loaders import resolve_data_dir
from miaudit.errors import ConfigError, DataError

Unit = Literal["line", "block", "chunk"]
UNITS = ("line", "block", "chunk")

TINY_SHAKESPEARE = dl.RemoteFile(
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
)
_WIKITEXT_URL = (
    "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/"
    "wikitext-2/{split}.txt"
)
WIKITEXT2 = {
    "valid": dl.RemoteFile(
        _WIKITEXT_URL.format(split="valid"),
        sha256="f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
    ),
    "test": dl.RemoteFile(
        _WIKITEXT_URL.format(split="test"),
        sha256="d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
    ),
}
CORPORA = ("tiny_shakespeare", "wikitext2")


@dataclass(frozen=True, eq=False)
class TextRecords:
    """Texts, one per record, with an optional user per record.

    Attributes:
        texts: the records (non-empty strings).
        users: the user of each record, or None.
        name: where they came from (a corpus name or a file path), for the report.
    """

    texts: tuple[str, ...]
    users: tuple[str, ...] | None = None
    name: str = "text"

    def __post_init__(self) -> None:
        texts = tuple(self.texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise DataError(f"{self.name}: record {i} is a {type(t).__name__}, not text")
            if not t.strip():
                raise DataError(f"{self.name}: record {i} is empty; remove it or give it text")
        object.__setattr__(self, "texts", texts)
        if self.users is not None:
            users = tuple(str(u) for u in self.users)
            if len(users) != len(texts):
                raise DataError(f"{self.name}: {len(texts)} records but {len(users)} users")
            object.__setattr__(self, "users", users)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: object) -> TextRecords:
        idx = np.arange(len(self.texts))[index]  # type: ignore[index]
        idx = np.atleast_1d(idx)
        users = None if self.users is None else tuple(self.users[i] for i in idx)
        return TextRecords(tuple(self.texts[i] for i in idx), users, self.name)


def _read_utf8(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"text file {path} not found") from None
    except OSError as exc:
        raise DataError(f"cannot read text file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8 text (invalid byte at offset {exc.start}, line {line}); "
            "convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None


def _blocks(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def _chunks(text: str, chunk_chars: int) -> list[str]:
    """Consecutive ``chunk_chars``-character pieces; a shorter last piece is dropped (all
    records equally long, so length says nothing about membership)."""
    n = len(text) // chunk_chars
    return [text[i * chunk_chars : (i + 1) * chunk_chars] for i in range(n)]


def _check_unit(unit: str, chunk_chars: int | None) -> None:
    if unit not in UNITS:
        raise ConfigError(f"unknown record unit {unit!r}; choose one of {', '.join(UNITS)}")
    if unit == "chunk" and (
        not isinstance(chunk_chars, int) or isinstance(chunk_chars, bool) or chunk_chars < 1
    ):
        raise ConfigError(
            f"unit 'chunk' needs chunk_chars, a positive integer, got {chunk_chars!r}"
        )


def split_text(text: str, unit: str, *, chunk_chars: int | None = None) -> list[str]:
    """Records of one text: non-blank lines, blank-line blocks, or fixed-length chunks."""
    _check_unit(unit, chunk_chars)
    if unit == "line":
        return [line for line in text.splitlines() if line.strip()]
    if unit == "block":
        return _blocks(text)
    assert chunk_chars is not None
    return [c for c in _chunks(text, chunk_chars) if c.strip()]


def read_text_file(
    path: str | Path, *, unit: str = "line", chunk_chars: int | None = None
) -> TextRecords:
    """Records of a UTF-8 ``.txt`` (one per non-blank line, blank-line block or chunk) or
    ``.jsonl`` file (one JSON object per line with a non-empty ``text``, optional ``user``)."""
    path = Path(path)
    text = _read_utf8(path)
    if path.suffix.lower() == ".jsonl":
        return _jsonl(text, str(path))
    records = split_text(text, unit, chunk_chars=chunk_chars)
    if not records:
        raise DataError(f"{path} holds no records (unit {unit!r})")
    return TextRecords(tuple(records), None, str(path))


def _jsonl(text: str, name: str) -> TextRecords:
    texts, users = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name} line {number} is not JSON: {exc.msg}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataError(f"{name} line {number}: needs an object with a string 'text' field")
        if not obj["text"].strip():
            raise DataError(f"{name} line {number}: the record is empty")
        texts.append(obj["text"])
        users.append(obj.get("user"))
    if not texts:
        raise DataError(f"{name} holds no records")
    given = [u is not None for u in users]
    if any(given) and not all(given):
        line = given.index(False) + 1
        raise DataError(f"{name}: some records have a 'user' and some not (record {line})")
    return TextRecords(tuple(texts), tuple(map(str, users)) if all(given) else None, name)


def _shakespeare(text: str, unit: str, chunk_chars: int | None) -> TextRecords:
    """Speaker turns ("NAME:" then the lines) as blocks with the speaker as user; lines and
    chunks without users."""
    if unit != "block":
        return TextRecords(
            tuple(split_text(text, unit, chunk_chars=chunk_chars)), None, "tiny_shakespeare"
        )
    blocks = _blocks(text)
    users = []
    for b in blocks:
        head = b.split("\n", 1)[0]
        users.append(head[:-1] if head.endswith(":") else "")
    return TextRecords(tuple(blocks), tuple(users), "tiny_shakespeare")


def _wikitext(text: str, unit: str, chunk_chars: int | None) -> TextRecords:
    """Paragraph lines (headings dropped) with their article's title as user; chunks of the
    whole text without users."""
    if unit == "chunk":
        return TextRecords(
            tuple(split_text(text, unit, chunk_chars=chunk_chars)), None, "wikitext2"
        )
    if unit == "block":
        raise ConfigError("wikitext2 records are lines (paragraphs) or chunks, not blocks")
    texts, users, title = [], [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("= ") and line.endswith(" =") and not line.startswith("= ="):
            title = line.strip("= ").strip()
            continue
        if line.startswith("= ="):
            continue  # a section heading
        texts.append(line)
        users.append(title)
    return TextRecords(tuple(texts), tuple(users), "wikitext2")


def load_corpus(
    name: str,
    *,
    unit: str = "block",
    chunk_chars: int | None = None,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> TextRecords:
    """A public corpus from the data directory (``text/`` under it), downloaded from its
    original source with its checksum when absent.

    * ``tiny_shakespeare`` (Karpathy's char-rnn): blocks are speaker turns, users the speakers.
    * ``wikitext2`` (Merity et al. 2016; the validation and test splits): lines are
      paragraphs, users the articles' titles.
    """
    _check_unit(unit, chunk_chars)
    root = resolve_data_dir(data_dir) / "text"
    if name == "tiny_shakespeare":
        path = dl.obtain(TINY_SHAKESPEARE, root / "tinyshakespeare_input.txt", download=download)
        return _shakespeare(_read_utf8(path), unit, chunk_chars)
    if name == "wikitext2":
        parts = [
            _read_utf8(dl.obtain(remote, root / f"wikitext2_{split}.txt", download=download))
            for split, remote in WIKITEXT2.items()
        ]
        return _wikitext("\n".join(parts), unit, chunk_chars)
    raise ConfigError(f"unknown text corpus {name!r}; choose one of {', '.join(CORPORA)} or a path")


def text_records(
    source: str | Path | Sequence[str],
    *,
    unit: str = "block",
    chunk_chars: int | None = None,
    data_dir: str | Path | None = None,
) -> TextRecords:
    """Records from a corpus name, a ``.txt``/``.jsonl`` path, or a list of texts."""
    if isinstance(source, TextRecords):
        return source
    if isinstance(source, str) and source in CORPORA:
        return load_corpus(source, unit=unit, chunk_chars=chunk_chars, data_dir=data_dir)
    if isinstance(source, str | Path):
        return read_text_file(source, unit=unit, chunk_chars=chunk_chars)
    return TextRecords(tuple(source), None, "texts")
