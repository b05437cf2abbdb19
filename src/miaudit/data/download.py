"""Download files from their original public sources, with checksum verification.

Files go to a temporary file next to the destination and are renamed into place only
after the checksum matched, so a failed or corrupted download never leaves a file that
looks complete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from miaudit.errors import DataError

CHUNK = 1 << 20
TIMEOUT_S = 60.0
_WHERE = (
    "the data directory is the data_dir argument, else the MIAUDIT_DATA environment "
    "variable, else ~/.cache/miaudit"
)


@dataclass(frozen=True)
class RemoteFile:
    """A file's original public URL and, where published or established, its checksums."""

    url: str
    sha256: str | None = None
    md5: str | None = None


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file's bytes (``algorithm`` as hashlib names it)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with Path(path).open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, *, sha256: str | None = None, md5: str | None = None) -> None:
    """Raise DataError unless ``path`` matches the given checksums (None skips a check)."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            raise DataError(
                f"checksum mismatch for {path}: expected {algorithm} {expected}, got {actual}; "
                "the file is corrupted or not the official one: delete it and download it again"
            )


def fetch(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None) -> Path:
    """Download ``url`` to ``dest`` (atomically) and verify its checksums; return ``dest``.

    On a checksum mismatch the downloaded file is deleted and DataError raised; when the
    download fails, the DataError says where to put the file by hand.
    """
    dest = Path(dest)
    manual = f"download {url} by hand and put it at {dest} ({_WHERE})"
    hashers = {}
    if sha256 is not None:
        hashers["sha256"] = (hashlib.sha256(), sha256.lower())
    if md5 is not None:
        hashers["md5"] = (hashlib.md5(usedforsecurity=False), md5.lower())
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                for hasher, _ in hashers.values():
                    hasher.update(chunk)
    except (urllib.error.URLError, OSError, ValueError) as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise DataError(f"could not download {url} ({err}); {manual}") from None
    for algorithm, (hasher, expected) in hashers.items():
        actual = hasher.hexdigest()
        if actual != expected:
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"checksum mismatch for {url}: expected {algorithm} {expected}, got {actual}; "
                f"the download was deleted. Try again, or {manual}"
            )
    os.replace(tmp, dest)
    return dest


def obtain(remote: RemoteFile, dest: Path, *, download: bool) -> Path:
    """Return ``dest`` if it exists, else download it from ``remote`` (if ``download``).

    Local files are used as they are; only downloads are checked against the checksums.
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    if not download:
        raise DataError(
            f"{dest} not found and download=False; put the file there ({_WHERE}; its "
            f"original source is {remote.url}) or allow downloading with download=True"
        )
    return fetch(remote.url, dest, sha256=remote.sha256, md5=remote.md5)
