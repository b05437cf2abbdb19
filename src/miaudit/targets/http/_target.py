"""A model behind an HTTP API (the survey's machine-learning-as-a-service scenario).

The auditor sees only what the API answers: probability vectors, logits, the top k classes
with their scores, or the label. Each record is sent once: answers are cached (on disk
with ``cache_dir``) and reused, the queries sent are counted against ``query_budget``
over every run sharing the cache, and a failed audit resumes from the cached answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from typing import Any

import numpy as np

from miaudit.errors import ConfigError, short_repr
from miaudit.outputs import softmax
from miaudit.targets._base import Target, as_records
from miaudit.targets.http._client import HttpClient
from miaudit.targets.http._errors import EndpointError, EndpointUnavailable
from miaudit.targets.http._ledger import QueryLedger
from miaudit.targets.http._mapping import (
    Mapping,
    make_mapping,
    parse_answer,
    record_json,
    request_body,
)
from miaudit.targets.http._store import QueryStore, endpoint_digest, store_path
from miaudit.validation import check_int

DEFAULT_BATCH_SIZE = 100
ENV_PREFIX = "env:"

_CAPABILITIES = {
    "probabilities": frozenset({"probabilities", "labels", "loss"}),
    "logits": frozenset({"probabilities", "logits", "labels", "loss"}),
    "top_k": frozenset({"labels"}),
    "labels": frozenset({"labels"}),
}


#: query parameter names that carry credentials (api_key, token, sig, X-Amz-Signature, ...)
_CREDENTIAL_PARAM = re.compile(
    r"(key|token|secret|passw|pwd|auth|sig|credential|session)", re.IGNORECASE
)


def check_url(url: Any) -> tuple[str, str, str]:
    """``url`` checked (http or https, a host, no credentials), with the form reports show
    (no query string) and its host; ConfigError otherwise."""
    if not isinstance(url, str) or not url:
        raise ConfigError(f"url must be a non-empty string, got {short_repr(url)}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"url must start with http:// or https://, got {short_repr(url)}")
    if not parts.hostname:
        raise ConfigError(f"url {short_repr(url)} has no host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "url must not carry credentials (user:password@host); send them in a header, "
            "e.g. headers: {Authorization: env:API_TOKEN}"
        )
    if any(c in url for c in "\r\n\t "):
        raise ConfigError(f"url {short_repr(url)} contains whitespace")
    secret = [
        name
        for name, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if _CREDENTIAL_PARAM.search(name)
    ]
    if secret:
        # a config (and so results.json) records its URL: a key in it would be published
        raise ConfigError(
            f"url carries what looks like a credential in its query ({', '.join(secret)}); "
            "send it in a header from an environment variable, e.g. "
            "headers: {Authorization: env:API_TOKEN}"
        )
    shown = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if parts.query:
        shown += "?..."
    return url, shown, parts.hostname


def resolve_headers(headers: Any) -> dict[str, str]:
    """Header values, ``env:NAME`` ones read from the environment (ConfigError when unset)."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ConfigError(
            f"headers must be a mapping of names to values, got {short_repr(headers)}"
        )
    out = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not name or any(c in name for c in ":\r\n "):
            raise ConfigError(f"bad header name {short_repr(name)}")
        if not isinstance(value, str):
            raise ConfigError(f"header {name!r} must be a string (or env:VARIABLE)")
        if value.startswith(ENV_PREFIX):
            var = value[len(ENV_PREFIX) :]
            if var not in os.environ:
                raise ConfigError(
                    f"header {name!r} reads the environment variable {var!r}, which is not set"
                )
            value = os.environ[var]
        if "\r" in value or "\n" in value:
            raise ConfigError(f"header {name!r} has a line break in its value")
        out[name] = value
    return out


class HttpTarget(Target):
    """A classifier behind an HTTP endpoint that answers batches of records with JSON.

    Capabilities follow ``output``: "probabilities" -> probabilities, labels, loss;
    "logits" -> also logits (the probabilities are their softmax); "top_k" and "labels"
    -> labels only (a label-only target: no attack reads top-k scores today, so a top-k
    API is audited with label-only attacks; :meth:`predict_top_k` gives the answers, in
    which the classes outside the top k are unknown, never probability 0).

    Answers are validated (:func:`~miaudit.targets.http._mapping.parse_answer`): a wrong
    shape, a wrong number of classes, NaN, probabilities outside [0, 1] or not summing to 1
    raise :class:`~miaudit.targets.http.EndpointError` naming the URL and the batch;
    nothing is normalised. Each distinct record is sent once; cached answers are reused
    and cost no budget. See :func:`http_target` for the arguments.
    """

    def __init__(
        self,
        url: str,
        *,
        num_classes: int,
        request: Any = None,
        response: Any = None,
        output: str = "probabilities",
        top_k: int | None = None,
        query_budget: int | None = None,
        rate_limit: float | None = None,
        timeout_s: float = 10.0,
        retries: int = 2,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_dir: str | os.PathLike[str] | None = None,
        headers: dict[str, str] | None = None,
        backoff_s: float = 0.5,
    ) -> None:
        self.url, self.display, host = check_url(url)
        self.mapping: Mapping = make_mapping(request, response, output=output)
        super().__init__(_CAPABILITIES[output])
        self.output = output
        self._num_classes = check_int(num_classes, "num_classes", low=2, error=ConfigError)
        if top_k is not None:
            top_k = check_int(top_k, "top_k", low=1, error=ConfigError)
            if output != "top_k":
                raise ConfigError(f"top_k is for output: top_k, not output: {output}")
        self.top_k = top_k
        if query_budget is not None:
            query_budget = check_int(query_budget, "query_budget", low=0, error=ConfigError)
        self.batch_size = check_int(batch_size, "batch_size", low=1, error=ConfigError)
        retries = check_int(retries, "retries", low=0, high=20, error=ConfigError)
        timeout_s = _positive(timeout_s, "timeout_s")
        backoff_s = _positive(backoff_s, "backoff_s", zero=True)
        rate = None if rate_limit is None else _positive(rate_limit, "rate_limit")
        identity = {"url": self.url, "mapping": self.mapping.identity(), "top_k": top_k}
        self._prefix = endpoint_digest(identity).encode()
        path = None if cache_dir is None else store_path(cache_dir, host, identity)
        self.store = QueryStore(path, identity)
        self.query_ledger = QueryLedger(self.store, query_budget, self.display)
        self.client = HttpClient(
            self.url,
            display=self.display,
            headers=resolve_headers(headers),
            timeout_s=timeout_s,
            retries=retries,
            rate_limit=rate,
            backoff_s=backoff_s,
            ledger=self.query_ledger,
        )

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def description(self) -> str:
        kind = f"top-{self.top_k}" if self.output == "top_k" and self.top_k else self.output
        return f"HTTP endpoint {self.display} ({kind})"

    @property
    def query_budget(self) -> int | None:
        return self.query_ledger.budget

    # -- queries -------------------------------------------------------------------------
    def _key(self, text: str, dtype: np.dtype) -> bytes:
        h = hashlib.blake2b(self._prefix, digest_size=16)
        if self.mapping.uses_datatype:
            h.update(np.dtype(dtype).str.encode())
        h.update(b"\0" + text.encode())
        return h.digest()

    def answers(self, x: np.ndarray) -> list[Any]:
        """The endpoint's validated answer for each record of ``x``: from the cache, else
        sent in batches of ``batch_size`` (each distinct record once)."""
        n = x.shape[0]
        texts = [record_json(r) for r in x]
        keys = [self._key(t, x.dtype) for t in texts]
        found = self.store.lookup(list(dict.fromkeys(keys)))
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        missing = list(todo)
        batches = [
            missing[i : i + self.batch_size] for i in range(0, len(missing), self.batch_size)
        ]
        answered = 0
        try:
            for i, batch in enumerate(batches):
                what = f"batch {i + 1} of {len(batches)} ({len(batch)} records)"
                body = request_body(self.mapping, [todo[k] for k in batch], x.shape[1:], x.dtype)
                doc = self.client.post(body, len(batch), what)
                rows = parse_answer(
                    doc,
                    self.mapping,
                    n=len(batch),
                    num_classes=self._num_classes,
                    top_k=self.top_k,
                    what=f"{self.display}: {what}",
                )
                texts_out = [json.dumps(r) for r in rows]
                self.store.store(zip(batch, texts_out, strict=True))
                found.update(zip(batch, texts_out, strict=True))
                answered += len(batch)
        except EndpointUnavailable as exc:
            self.query_ledger.unavailable = exc
            raise
        finally:
            self.query_ledger.count_asked(n, answered)
        return [json.loads(found[k]) for k in keys]

    def _rows(self, x: np.ndarray) -> np.ndarray:
        rows = self.answers(x)
        return np.array(rows, dtype=np.float64).reshape(len(rows), self._num_classes)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        if self.output == "logits":
            return softmax(self._rows(x))
        return self._rows(x)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        return self._rows(x)

    def _labels(self, x: np.ndarray) -> np.ndarray:
        if self.output == "labels":
            return np.array(self.answers(x), dtype=np.int64).reshape(-1)
        if self.output == "top_k":
            labels, scores = self._top_k(x)
            return labels[np.arange(len(labels)), np.argmax(scores, axis=1)]
        return np.argmax(self._rows(x), axis=1)

    def _top_k(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self.answers(x)
        lengths = sorted({len(r["labels"]) for r in rows})
        if len(lengths) > 1:
            raise EndpointError(
                f"{self.display}: top-k answers of different lengths {lengths}; give top_k "
                "(the k the endpoint returns) so that every answer is checked against it"
            )
        k = lengths[0] if rows else (self.top_k or 1)
        labels = np.array([r["labels"] for r in rows], dtype=np.int64).reshape(len(rows), k)
        scores = np.array([r["scores"] for r in rows], dtype=np.float64).reshape(len(rows), k)
        return labels, scores

    def predict_top_k(self, x: object) -> tuple[np.ndarray, np.ndarray]:
        """The top-k answers: class indices int64 (n, k) and their scores float64 (n, k),
        as the endpoint listed them (``output: top_k`` only)."""
        if self.output != "top_k":
            raise ConfigError(f"predict_top_k needs output: top_k; this target has {self.output}")
        arr = self._start(as_records(x), "labels")
        return self._top_k(arr)


def _positive(value: Any, what: str, *, zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ConfigError(f"{what} must be a number {bound}, got {short_repr(value)}")
    return float(value)


def http_target(
    url: str,
    *,
    num_classes: int,
    request: Any = None,
    response: Any = None,
    output: str = "probabilities",
    top_k: int | None = None,
    query_budget: int | None = None,
    rate_limit: float | None = None,
    timeout_s: float = 10.0,
    retries: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache_dir: str | os.PathLike[str] | None = None,
    headers: dict[str, str] | None = None,
    backoff_s: float = 0.5,
) -> HttpTarget:
    """A :class:`HttpTarget` for the model behind ``url``, ready for :func:`miaudit.audit`.

    Args:
        url: the endpoint that takes a POST of a JSON batch (http or https; no
            credentials in it).
        num_classes: the model's number of classes C (answers are checked against it).
        request: the body: a template name ("default", "kserve", "kserve_v2",
            "torchserve") or a JSON template with "$inputs" where the batch goes
            (:mod:`miaudit.targets.http._mapping`).
        response: where the outputs are in the answer: a template name, a dotted path
            ("predictions", "result.*.probs"), or ``{"outputs" | "labels" | "scores": path,
            "flat": bool}``; default: the request template's.
        output: what the API answers: "probabilities", "logits", "top_k" or "labels".
        top_k: k of a top-k API (checked on every answer); only with output "top_k".
        query_budget: the most records ever sent to the endpoint (every run sharing
            ``cache_dir`` counted; retries count, cached answers do not); None: no cap.
        rate_limit: most requests per second.
        timeout_s: seconds per socket operation of a request.
        retries: attempts after the first for HTTP 429/5xx, timeouts and lost connections,
            waiting ``backoff_s * 2**i`` seconds (or the server's Retry-After).
        batch_size: records per request.
        cache_dir: directory of the answer cache and query ledger (None: in memory, for
            this target object only).
        headers: extra request headers; a value ``env:NAME`` is read from the environment
            variable NAME. Header values are never written to the cache or results.
        backoff_s: the first retry's wait.
    """
    return HttpTarget(
        url,
        num_classes=num_classes,
        request=request,
        response=response,
        output=output,
        top_k=top_k,
        query_budget=query_budget,
        rate_limit=rate_limit,
        timeout_s=timeout_s,
        retries=retries,
        batch_size=batch_size,
        cache_dir=cache_dir,
        headers=headers,
        backoff_s=backoff_s,
    )
