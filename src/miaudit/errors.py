"""Errors raised by miaudit. Each names the problem and, where possible, the fix."""

from __future__ import annotations


class MiauditError(ValueError):
    """Base class of every error miaudit raises for bad input."""


class ConfigError(MiauditError):
    """The audit configuration is invalid (unknown key, wrong type, bad value)."""


class DataError(MiauditError):
    """A dataset or array is malformed (missing arrays, wrong shapes, NaN, bad labels)."""


class UnknownNameError(MiauditError):
    """A registry lookup failed; the message lists the valid names."""


class NotFittedError(MiauditError):
    """An attack was used before `fit` was called."""
