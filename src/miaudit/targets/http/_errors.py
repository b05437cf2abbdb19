"""The errors of an HTTP target (each a DataError: the CLI prints one line, exits 2; an
endpoint that stops answering is also a ServiceUnavailable: exit 6, rerun to resume)."""

from __future__ import annotations

from miaudit.errors import DataError, ServiceUnavailable
from miaudit.targets._wrappers import QueryBudgetExceeded


class HttpBudgetExceeded(QueryBudgetExceeded):
    """Sending the next request would take the endpoint past its ``query_budget``."""


class EndpointError(DataError):
    """The endpoint refused a request (HTTP 4xx) or its answer is not what the mapping
    says (not JSON, wrong shape, wrong number of classes, not probabilities)."""


class EndpointUnavailable(EndpointError, ServiceUnavailable):
    """The endpoint did not answer (down, timing out, HTTP 5xx) after every retry; the
    answers received so far are in the cache, and a rerun resumes from them."""
