"""A model behind an HTTP API: request/response mapping, client, query cache and budget.

``http_target(url, num_classes=..., ...)`` builds the :class:`HttpTarget`;
``check_url_section`` / ``target_from_url_section`` read a config's ``target: {url: ...}``.
"""

from miaudit.targets.http._config import URL_KEYS, check_url_section, target_from_url_section
from miaudit.targets.http._errors import EndpointError, EndpointUnavailable, HttpBudgetExceeded
from miaudit.targets.http._ledger import QueryLedger
from miaudit.targets.http._mapping import OUTPUT_KINDS, TEMPLATES, Mapping, make_mapping
from miaudit.targets.http._target import HttpTarget, http_target

__all__ = [
    "OUTPUT_KINDS",
    "TEMPLATES",
    "URL_KEYS",
    "EndpointError",
    "EndpointUnavailable",
    "HttpBudgetExceeded",
    "HttpTarget",
    "Mapping",
    "QueryLedger",
    "check_url_section",
    "http_target",
    "make_mapping",
    "target_from_url_section",
]
