"""A config's ``target: {url: ...}`` section: checked before any work, then built.

The keys are :data:`URL_KEYS`; an unknown one is refused with the closest valid key. A
header whose name looks like a credential (Authorization, *token*, *key*, *secret*,
*password*, cookie) must take its value from the environment (``env:NAME``), so that no
secret is written in a config (which results.json records).
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from miaudit.errors import ConfigError, short_repr
from miaudit.targets.http._mapping import OUTPUT_KINDS, make_mapping
from miaudit.targets.http._target import (
    DEFAULT_BATCH_SIZE,
    ENV_PREFIX,
    HttpTarget,
    check_url,
    resolve_headers,
)
from miaudit.validation import check_int, check_number

URL_KEYS = (
    "url",
    "request",
    "response",
    "output",
    "top_k",
    "query_budget",
    "rate_limit",
    "timeout_s",
    "retries",
    "batch_size",
    "backoff_s",
    "headers",
    "num_classes",
    "cache_dir",
)
_SECRET_WORDS = ("authorization", "token", "key", "secret", "password", "cookie")


def check_url_section(section: dict[str, Any], *, source: str) -> dict[str, Any]:
    """The ``target:`` section with ``url``, checked and with its defaults filled in
    (header values as written: ``env:NAME`` references stay references). ConfigError,
    prefixed with ``source``, for an unknown key, a URL that is not http(s), a bad
    mapping, a bad number, a credential header given literally or an unset variable."""
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: 'target' must be a mapping, got {short_repr(section)}")
    for key in section:
        if key not in URL_KEYS:
            hint = _close_match(key)
            did_you_mean = f"; did you mean '{hint}'?" if hint else ""
            raise ConfigError(
                f"{source}: unknown key {short_repr(key)} in target{did_you_mean} "
                f"(valid with url: {', '.join(sorted(URL_KEYS))})"
            )
    try:
        return _checked(section)
    except ConfigError as e:
        raise ConfigError(f"{source}: target: {e}") from None


def _checked(s: dict[str, Any]) -> dict[str, Any]:
    if "url" not in s:
        raise ConfigError("'url' is missing")
    check_url(s["url"])
    output = s.get("output", "probabilities")
    if output not in OUTPUT_KINDS:
        raise ConfigError(
            f"'output' must be one of {', '.join(OUTPUT_KINDS)}, got {short_repr(output)}"
        )
    make_mapping(s.get("request"), s.get("response"), output=output)
    out: dict[str, Any] = {
        "url": s["url"],
        "request": s.get("request"),
        "response": s.get("response"),
        "output": output,
        "top_k": _opt_int(s, "top_k", low=1),
        "query_budget": _opt_int(s, "query_budget", low=0),
        "rate_limit": _opt_number(s, "rate_limit", positive=True),
        "timeout_s": _opt_number(s, "timeout_s", positive=True, default=10.0),
        "retries": _opt_int(s, "retries", low=0, high=20, default=2),
        "batch_size": _opt_int(s, "batch_size", low=1, default=DEFAULT_BATCH_SIZE),
        "backoff_s": _opt_number(s, "backoff_s", positive=False, default=0.5),
        "headers": _headers(s.get("headers")),
        "num_classes": _opt_int(s, "num_classes", low=2),
        "cache_dir": s.get("cache_dir"),
    }
    if out["top_k"] is not None and output != "top_k":
        raise ConfigError(f"'top_k' is for output: top_k, not output: {output}")
    if out["cache_dir"] is not None and not isinstance(out["cache_dir"], str):
        raise ConfigError(f"'cache_dir' must be a path string, got {short_repr(out['cache_dir'])}")
    return out


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    resolve_headers(value)  # names, types, env variables set
    for name, text in value.items():
        secret = any(word in name.lower() for word in _SECRET_WORDS)
        if secret and not text.startswith(ENV_PREFIX):
            raise ConfigError(
                f"header {name!r} looks like a credential: give it as env:VARIABLE (its value "
                "read from the environment), not in the config, which results.json records"
            )
    return dict(value)


def _opt_int(
    s: dict[str, Any], key: str, *, low: int, high: int | None = None, default: int | None = None
) -> int | None:
    value = s.get(key, default)
    return None if value is None else check_int(value, f"'{key}'", low=low, high=high)


def _opt_number(
    s: dict[str, Any], key: str, *, positive: bool, default: float | None = None
) -> float | None:
    value = s.get(key, default)
    if value is None:
        return None
    number = check_number(value, f"'{key}'", low=0)
    if positive and number == 0:
        raise ConfigError(f"'{key}' must be > 0, got {short_repr(value)}")
    return number


def _close_match(name: Any) -> str | None:
    if not isinstance(name, str) or len(name) > 100:
        return None
    hint = difflib.get_close_matches(name, URL_KEYS, n=1)
    return hint[0] if hint else None


def target_from_url_section(
    section: dict[str, Any], *, num_classes: int, cache_dir: str | os.PathLike[str] | None
) -> HttpTarget:
    """The :class:`HttpTarget` of a checked ``target: {url: ...}`` section.

    ``num_classes`` is the audit's (its data set's); a ``num_classes`` in the section must
    agree. The section's ``cache_dir`` wins over ``cache_dir`` (the run's cache).
    """
    s = check_url_section(section, source="config")
    if s["num_classes"] is not None and s["num_classes"] != num_classes:
        raise ConfigError(
            f"config: target: num_classes is {s['num_classes']} but the data have "
            f"{num_classes} classes"
        )
    return HttpTarget(
        s["url"],
        num_classes=num_classes,
        request=s["request"],
        response=s["response"],
        output=s["output"],
        top_k=s["top_k"],
        query_budget=s["query_budget"],
        rate_limit=s["rate_limit"],
        timeout_s=s["timeout_s"],
        retries=s["retries"],
        batch_size=s["batch_size"],
        cache_dir=s["cache_dir"] if s["cache_dir"] is not None else cache_dir,
        headers=s["headers"],
        backoff_s=s["backoff_s"],
    )
