"""POST one JSON body to the endpoint: rate limit, timeout, retries with exponential backoff.

Standard library only (``urllib.request``). Retried: HTTP 429, 500, 502, 503, 504, timeouts,
refused and reset connections; a ``Retry-After`` header (seconds) lengthens the wait. Not
retried: other HTTP 4xx (the request itself is wrong: authentication, URL, body) and
answers that are not JSON. Redirects are refused (headers such as ``Authorization`` must
not follow a request to another host). Every attempt is charged to the
:class:`~miaudit.targets.http._ledger.QueryLedger` before it is sent; an attempt whose
connection was refused is taken back (nothing reached the endpoint).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from miaudit.targets.http._errors import EndpointError, EndpointUnavailable
from miaudit.targets.http._ledger import QueryLedger

RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_ANSWER_BYTES = 64 << 20
MAX_RETRY_AFTER_S = 300.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        raise EndpointError(
            f"{req.full_url}: redirected (HTTP {code}) to {newurl}; give the final URL "
            "(redirects are not followed, so that credentials stay with the given host)"
        )


class _Failed(Exception):
    """One attempt failed; ``delivered``: the request may have reached the endpoint."""

    def __init__(self, reason: str, *, delivered: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.delivered, self.retry_after = reason, delivered, retry_after


class HttpClient:
    """Sends request bodies to ``url`` and returns the parsed JSON answers.

    Args:
        url: the endpoint (http or https).
        display: the URL as messages show it (no credentials).
        headers: extra request headers (values already resolved; never logged).
        timeout_s: seconds per socket operation (connect, each read).
        retries: attempts after the first one for a retried failure.
        rate_limit: most requests per second (None: no limit).
        backoff_s: first wait before a retry; doubled at each retry.
        ledger: charged before every attempt.
    """

    def __init__(
        self,
        url: str,
        *,
        display: str,
        headers: dict[str, str],
        timeout_s: float,
        retries: int,
        rate_limit: float | None,
        backoff_s: float,
        ledger: QueryLedger,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url, self.display = url, display
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.interval = 0.0 if rate_limit is None else 1.0 / rate_limit
        self.ledger, self.sleep = ledger, sleep
        self._last_start: float | None = None
        self._retry_after: float | None = None
        self._opener = urllib.request.build_opener(_NoRedirect())

    def post(self, body: bytes, n: int, what: str) -> Any:
        """The parsed JSON answer to ``body`` (carrying ``n`` records; ``what`` names the
        batch in errors). Raises HttpBudgetExceeded before an attempt the budget cannot
        take, EndpointError for a refused request or a non-JSON answer, and
        EndpointUnavailable when every attempt failed."""
        failures: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self._wait(attempt))
            self._pace()
            self.ledger.reserve(n, what)
            try:
                raw = self._send(body)
            except _Failed as f:
                if not f.delivered:
                    self.ledger.release(n)
                failures.append(f.reason)
                self._retry_after = f.retry_after
                continue
            return self._parse(raw, what)
        raise EndpointUnavailable(
            f"{self.display}: {what}: no answer after {self.retries + 1} attempt(s) "
            f"({'; '.join(_dedupe(failures))}); the answers received so far are cached: "
            "rerun the audit to resume without sending them again"
        )

    def _wait(self, attempt: int) -> float:
        """Seconds before retry ``attempt``: ``backoff_s * 2**(attempt - 1)``, or the
        server's ``Retry-After`` when longer (at most :data:`MAX_RETRY_AFTER_S`)."""
        wait = self.backoff_s * 2 ** (attempt - 1)
        if self._retry_after is not None:
            wait = max(wait, min(self._retry_after, MAX_RETRY_AFTER_S))
        return wait

    def _pace(self) -> None:
        """Wait so that request starts are at least ``1 / rate_limit`` seconds apart."""
        now = time.monotonic()
        if self._last_start is not None and self.interval > 0:
            wait = self._last_start + self.interval - now
            if wait > 0:
                self.sleep(wait)
                now = time.monotonic()
        self._last_start = now

    def _send(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as answer:
                raw = answer.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as e:
            detail = _snippet(e)
            if e.code in RETRIED_STATUS:
                raise _Failed(
                    f"HTTP {e.code}{detail}", delivered=True, retry_after=_retry_after(e)
                ) from None
            hint = " (check the headers: authentication)" if e.code in (401, 403) else ""
            raise EndpointError(
                f"{self.display}: the endpoint refused the request: HTTP {e.code}{detail}{hint}"
            ) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                raise _Failed(f"timed out after {self.timeout_s:g} s", delivered=True) from None
            refused = isinstance(reason, ConnectionRefusedError | socket.gaierror)
            raise _Failed(f"cannot connect: {reason}", delivered=not refused) from None
        except TimeoutError:
            raise _Failed(f"timed out after {self.timeout_s:g} s", delivered=True) from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _Failed(f"connection lost: {type(e).__name__}: {e}", delivered=True) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise EndpointError(f"{self.display}: answer larger than {MAX_ANSWER_BYTES >> 20} MiB")
        return raw

    def _parse(self, raw: bytes, what: str) -> Any:
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            start = raw[:80].decode("utf-8", "replace")
            raise EndpointError(
                f"{self.display}: {what}: the answer is not JSON ({e}); it starts {start!r}"
            ) from None


def _snippet(e: urllib.error.HTTPError) -> str:
    try:
        text = e.read(200).decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 -- the status is the message; the body is a bonus
        text = ""
    return f": {' '.join(text.split())[:160]}" if text else ""


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    value = e.headers.get("Retry-After") if e.headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the exponential backoff


def _dedupe(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
