"""Checks a config run makes before any import, data split or training (issue 9 items 11, 13).

* Code named by the config: ``reference.train_fn`` ("package.module:function") is imported,
  and importing a module runs its code. :func:`imports_allowed` says whether this run may
  (``run_config(allow_imports=False)``, ``miaudit audit --no-code`` or
  ``MIAUDIT_NO_CONFIG_IMPORTS=1`` refuse it before anything is imported);
  :func:`import_train_fn` imports it and refuses, in one line, anything that is not a
  Python function accepting ``(x, y, seed)`` (``os:system`` used to fail later with a
  ``TypeError``).
* Attack needs: :func:`miaudit.pipeline.config.check_config_needs` (called when a config is
  parsed and again once the split is known; the check itself is
  :func:`miaudit.pipeline._needs.check_attack_needs`, shared with :func:`miaudit.audit`).
* Memory: :func:`check_audit_memory` estimates, from the config and the data's shape, what
  the target and reference models, the random queries, the reference outputs and the
  bootstrap will allocate, and refuses (ResourceError) what this machine cannot hold.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from miaudit._code_imports import import_named
from miaudit.errors import ConfigError, short_repr
from miaudit.pipeline._import_policy import ENV_NO_IMPORTS, imports_allowed
from miaudit.resources import bootstrap_bytes, outputs_bytes, random_queries_bytes, require_memory

if TYPE_CHECKING:
    from miaudit.pipeline.config import AuditConfig


def check_config_code(config: AuditConfig, allow_imports: bool | None = None) -> Any:
    """Import and check the code the config names (its ``reference.train_fn``), or refuse.

    Runs before the data are loaded and before any training, so a refused or broken
    ``train_fn`` costs nothing. Returns the function, or None when the config names none.
    """
    spec = config.reference.train_fn
    if spec is None:
        return None
    return import_train_fn(spec, allow_imports=allow_imports)


def import_train_fn(spec: str, *, allow_imports: bool | None = None) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (a config's ``reference.train_fn``).

    Raises:
        ConfigError: imports are disabled (nothing is imported), the text is not
            ``module:function``, the module cannot be imported or fails while importing,
            or the attribute is not a Python function accepting ``(x, y, seed)``.
    """
    where = f"reference.train_fn {short_repr(spec)}"
    if not imports_allowed(allow_imports):
        raise ConfigError(
            f"{where} names code to import and imports from configs are disabled "
            f"(--no-code or {ENV_NO_IMPORTS}=1); nothing was imported: remove "
            "reference.train_fn, or run without --no-code if you trust this config"
        )
    obj = import_named(spec, where=where, shape="package.module:function")
    check_train_fn(obj, where)
    return obj


def check_train_fn(fn: Any, where: str = "train_fn") -> None:
    """Refuse (ConfigError) anything but a Python function callable as ``fn(x, y, seed)``.

    Accepted: a function or bound method written in Python, a ``functools.partial`` of
    one, or an instance of a Python class with a ``__call__`` method. Refused: classes,
    built-in and C functions (``os:system``, ``builtins:print``), modules and other values.
    """
    python = _python_callable(fn)
    if python is None:
        name = type(fn).__name__
        kind = (
            "a class" if isinstance(fn, type) else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
        )
        raise ConfigError(f"{where} is {kind}, not a Python function train_fn(x, y, seed) -> model")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} has no signature to check; write a Python function") from None
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise ConfigError(
            f"{where} must accept (x, y, seed); its signature is {short_repr(str(signature), 120)}"
        ) from None


def _python_callable(fn: Any) -> Any:
    """The Python function behind ``fn``, or None when it is not written in Python."""
    if isinstance(fn, functools.partial):
        return _python_callable(fn.func)
    if inspect.isfunction(fn):
        return fn
    if inspect.ismethod(fn) and inspect.isfunction(fn.__func__):
        return fn.__func__
    if isinstance(fn, type) or inspect.ismodule(fn):
        return None
    call = getattr(type(fn), "__call__", None)  # noqa: B004 -- the class's, not the instance's
    return call if inspect.isfunction(call) else None


def check_audit_memory(
    config: AuditConfig,
    *,
    record_shape: tuple[int, ...],
    num_classes: int,
    n_members: int,
    n_nonmembers: int,
    n_population: int,
) -> None:
    """Refuse (ResourceError) a config whose sizes cannot fit in this machine's memory.

    Checked from sizes alone, before any of it is allocated: the target model and the
    reference models' recipe (parameters, gradients, optimiser state, a batch of
    activations), the random queries, the reference models' outputs on the audited
    records and the population, and the bootstrap's resample indices.
    """
    from miaudit.models._zoo import check_model_memory

    features = math.prod(record_shape)
    target = config.target
    if target.external is None:  # a model miaudit trains (a loaded one exists already)
        check_model_memory(
            target.model,
            target.params,
            record_shape,
            num_classes,
            n_records=n_members,
            what="target model",
        )
    ref = config.reference
    if ref.model is not None:
        params = {k: v for k, v in ref.model.items() if k != "model"}
        check_model_memory(
            ref.model["model"],
            params,
            record_shape,
            num_classes,
            n_records=n_members,
            what="reference model",
        )
    ev = config.evaluation
    require_memory(
        random_queries_bytes(ev.random_queries, features),
        f"evaluation.random_queries {ev.random_queries:,} on records of {features:,} features",
        "lower evaluation.random_queries (1000 is the default)",
    )
    audited = n_members + n_nonmembers
    require_memory(
        outputs_bytes(ref.num_models, audited + n_population, num_classes),
        f"the outputs of reference.num_models {ref.num_models:,} on {audited + n_population:,} "
        f"records of {num_classes} classes",
        "lower reference.num_models or split.population",
    )
    require_memory(
        bootstrap_bytes(ev.bootstrap, audited),
        f"evaluation.bootstrap {ev.bootstrap:,} resamples of {audited:,} records",
        "lower evaluation.bootstrap (200 is the default; 0 for no intervals)",
    )


__all__ = [
    "ENV_NO_IMPORTS",
    "check_audit_memory",
    "check_config_code",
    "check_train_fn",
    "import_train_fn",
    "imports_allowed",
]
