"""Fingerprint of a user's ``train_fn``: everything its behaviour can depend on.

Issue 9 item 1: the cache identified a ``train_fn`` by its module and qualified name only, so
two ``functools.partial``\\ s, lambdas or closures with different settings shared cached
models (LiRA AUC 0.509 instead of 0.905 once a ``C=1e-4`` run had filled the cache for a
``C=100`` one). The fingerprint here covers what a call can read:

* the code: bytecode, constants, names, argument layout, nested code objects (recursively);
  not line numbers or the file name (moving a function does not change what it does);
* its defaults and keyword-only defaults, its closure cells' values;
* the module globals its code (and nested code) loads, with their values;
* ``functools.partial``: the function, positional and keyword arguments; bound methods: the
  function and the object.

Values are fingerprinted by content: None/bool/int/float/complex/str/bytes, tuples, lists,
dicts, sets, numpy arrays and scalars, torch tensors, enums, dataclass instances,
scikit-learn estimators (class, ``get_params(deep=False)`` recursively, fitted attributes),
functions (recursively, with a guard against cycles). Code of an installed library (the
standard library, site-packages, miaudit itself) is identified by its qualified name and
the library's version: its behaviour changes only with the version. User code (anything
else: a script, a project module, a test helper) is followed: its classes by their bodies,
its modules by the attributes the code reads.

Whatever cannot be fingerprinted deterministically (a random generator, an open file, an
arbitrary object) raises :class:`Unfingerprintable`; the recipe then refuses to cache and
names the explicit version key that replaces the automatic fingerprint.
"""

from __future__ import annotations

import dataclasses
import dis
import enum
import functools
import hashlib
import importlib.metadata
import logging
import pathlib
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

#: bump when the fingerprint's encoding changes (every train_fn key changes with it)
FINGERPRINT_VERSION = 1

_MAX_DEPTH = 64

#: class attributes that describe a class rather than define its behaviour
_CLASS_METADATA = frozenset(
    {
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__annotations__",
        "__firstlineno__",
        "__static_attributes__",
        "__dataclass_fields__",
        "__dataclass_params__",
        "__parameters__",
        "__orig_bases__",
        "_abc_impl",
        "__abstractmethods__",
    }
)

_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME"})
_ATTR_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR"})


class Unfingerprintable(Exception):
    """A value the fingerprint cannot describe deterministically; ``str`` says which."""


def fingerprint_callable(fn: Callable[..., Any]) -> str:
    """sha256 hex digest of everything ``fn``'s behaviour can depend on (module docstring).

    Raises:
        Unfingerprintable: naming the first value that cannot be fingerprinted.
    """
    fp = _Fingerprinter()
    fp.put("miaudit-train-fn", f"v{FINGERPRINT_VERSION}|{sys.implementation.cache_tag}")
    fp.value(fn, "train_fn", 0)
    return fp.h.hexdigest()


def library_version(module_name: str | None) -> str | None:
    """``name-version`` when ``module_name`` belongs to an installed library, else None.

    Installed libraries: the standard library, miaudit, and packages whose files live in a
    ``site-packages``/``dist-packages`` directory. Their code changes only with their
    version, so they are fingerprinted by name and version instead of by their code.
    """
    if not module_name:
        return None
    top = module_name.partition(".")[0]
    if top in sys.stdlib_module_names or top == "builtins":
        return f"python-{sys.version_info[0]}.{sys.version_info[1]}"
    if top == "miaudit":
        import miaudit

        return f"miaudit-{miaudit.__version__}"
    module = sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if not file or not {"site-packages", "dist-packages"} & set(pathlib.Path(file).parts):
        return None
    version = getattr(module, "__version__", None)
    if not isinstance(version, str):
        try:
            version = importlib.metadata.version(top)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
    return f"{top}-{version}"


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', None) or getattr(obj, '__name__', '?')}"


def _code_names(code: types.CodeType) -> tuple[set[str], set[str]]:
    """Global names the code (and its nested code) loads, and attribute names it reads."""
    globals_: set[str] = set()
    attrs: set[str] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in _GLOBAL_OPS and isinstance(ins.argval, str):
            globals_.add(ins.argval)
        elif ins.opname in _ATTR_OPS and isinstance(ins.argval, str):
            attrs.add(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            g, a = _code_names(const)
            globals_ |= g
            attrs |= a
    return globals_, attrs


class _Fingerprinter:
    """Feeds a tagged, length-prefixed token stream into one sha256."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        #: id -> visit number of objects already fingerprinted (cycles, shared references)
        self.seen: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps visited objects alive so their ids stay unique

    def put(self, tag: str, payload: str | bytes = b"") -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self.h.update(f"{tag}:{len(data)}:".encode())
        self.h.update(data)

    def _revisit(self, obj: Any) -> bool:
        """True (and a back reference emitted) when ``obj`` was fingerprinted before."""
        key = id(obj)
        if key in self.seen:
            self.put("ref", str(self.seen[key]))
            return True
        self.seen[key] = len(self.seen)
        self.keep.append(obj)
        return False

    # -- values ---------------------------------------------------------------------------
    def value(self, v: Any, where: str, depth: int) -> None:
        """Fingerprint ``v`` (``where`` names it in errors)."""
        if depth > _MAX_DEPTH:
            raise Unfingerprintable(f"{where} is nested more than {_MAX_DEPTH} levels deep")
        t = type(v)
        if v is None or t in (bool, int, float, complex, str):
            self.put(t.__name__, repr(v))
        elif t in (bytes, bytearray):
            self.put(t.__name__, bytes(v))
        elif isinstance(v, enum.Enum):
            self.put("enum", f"{_qualified(t)}.{v.name}")
            self.value(v.value, f"{where}.value", depth + 1)
        elif isinstance(v, logging.Logger):  # logs; does not change what the function computes
            self.put("logger", v.name)
        elif isinstance(v, np.ndarray):
            self.array(v, where)
        elif isinstance(v, np.generic):
            self.array(np.asarray(v), where)
        elif isinstance(v, np.dtype):
            self.put("dtype", v.str)
        elif isinstance(v, range | slice | pathlib.PurePath):
            self.put(t.__name__, repr(v))
        elif self._torch_value(v, where):
            pass
        elif isinstance(v, types.CodeType):
            self.code(v, where, depth + 1)
        elif isinstance(v, type):
            self.cls(v, where, depth + 1)
        elif isinstance(v, types.ModuleType):
            self.module(v, None)
        elif not self._revisit(v):
            self._compound(v, where, depth + 1)

    def _compound(self, v: Any, where: str, depth: int) -> None:
        """Containers, callables and objects (each visited once; see _revisit)."""
        if isinstance(v, tuple | list):
            self.put(type(v).__name__ if type(v) in (tuple, list) else "seq", str(len(v)))
            if type(v) not in (tuple, list):
                self.cls(type(v), where, depth)
            for i, item in enumerate(v):
                self.value(item, f"{where}[{i}]", depth)
        elif isinstance(v, dict):  # insertion order: it is what iteration sees
            self.put("dict", str(len(v)))
            if type(v) is not dict:
                self.cls(type(v), where, depth)
            for k, item in v.items():
                self.value(k, f"a key of {where}", depth)
                self.value(item, f"{where}[{k!r}]", depth)
        elif isinstance(v, set | frozenset):
            self.put(type(v).__name__, str(len(v)))
            for digest in sorted(self._digest(item, f"an item of {where}", depth) for item in v):
                self.put("item", digest)
        elif isinstance(v, functools.partial):
            self.put("partial")
            self.value(v.func, f"{where}.func", depth)
            self.value(v.args, f"{where}.args", depth)
            self.value(v.keywords, f"{where}.keywords", depth)
        elif isinstance(v, types.MethodType):
            self.put("method")
            self.value(v.__func__, where, depth)
            self.value(v.__self__, f"{where}.__self__", depth)
        elif isinstance(v, types.FunctionType):
            self.function(v, where, depth)
        elif isinstance(v, staticmethod | classmethod):
            self.put(type(v).__name__)
            self.value(v.__func__, where, depth)
        elif isinstance(v, property):
            self.put("property")
            for part in (v.fget, v.fset, v.fdel):
                self.value(part, where, depth)
        elif isinstance(v, np.ufunc):
            self.put("ufunc", f"{v.__name__}@{library_version('numpy')}")
        elif callable(v) and _is_builtin_callable(v):
            self.builtin(v, where)
        elif _is_estimator(v):
            self.estimator(v, where, depth)
        elif dataclasses.is_dataclass(v):
            self.put("dataclass")
            self.cls(type(v), where, depth)
            for f in dataclasses.fields(v):
                self.put("field", f.name)
                self.value(getattr(v, f.name), f"{where}.{f.name}", depth)
        else:
            raise Unfingerprintable(f"{where} is a {_qualified(type(v))}")

    def _digest(self, v: Any, where: str, depth: int) -> str:
        sub = _Fingerprinter()
        sub.value(v, where, depth)
        return sub.h.hexdigest()

    def array(self, a: np.ndarray, where: str) -> None:
        if a.dtype.hasobject:
            raise Unfingerprintable(f"{where} is a numpy array of Python objects")
        a = np.ascontiguousarray(a)
        self.put("ndarray", f"{a.dtype.str}{a.shape}")
        self.put("data", memoryview(a).cast("B").tobytes())

    def _torch_value(self, v: Any, where: str) -> bool:
        torch = sys.modules.get("torch")
        if torch is None:
            return False
        if isinstance(v, torch.Tensor):
            t = v.detach().to("cpu").contiguous()
            self.put("tensor", f"{t.dtype}{tuple(t.shape)}")
            self.put("data", t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
            return True
        if isinstance(v, torch.dtype | torch.device):
            self.put(type(v).__name__, str(v))
            return True
        return False

    # -- code -----------------------------------------------------------------------------
    def code(self, code: types.CodeType, where: str, depth: int) -> None:
        self.put("code", code.co_name)
        self.put("co_code", code.co_code)
        layout = (
            code.co_argcount,
            code.co_posonlyargcount,
            code.co_kwonlyargcount,
            code.co_flags,
            code.co_names,
            code.co_varnames,
            code.co_freevars,
            code.co_cellvars,
        )
        self.put("layout", repr(layout))
        for i, const in enumerate(code.co_consts):
            self.value(const, f"constant {i} of {where}", depth)

    def function(self, fn: types.FunctionType, where: str, depth: int) -> None:
        """A Python function: by name and version in a library, else by what it reads."""
        library = library_version(fn.__module__)
        if library is not None:
            self.put("libfunction", f"{_qualified(fn)}@{library}")
            return
        name = _qualified(fn)
        self.put("function", name)
        self.code(fn.__code__, name, depth)
        self.value(fn.__defaults__, f"the defaults of {name}", depth)
        self.value(fn.__kwdefaults__, f"the keyword defaults of {name}", depth)
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
            self.put("cell", var)
            try:
                content = cell.cell_contents
            except ValueError:  # a cell not yet assigned
                self.put("empty")
                continue
            self.value(content, f"closure variable {var!r} of {name}", depth)
        names, attrs = _code_names(fn.__code__)
        for g in sorted(names):
            if g not in fn.__globals__:
                continue  # a builtin (covered by the Python version) or not yet defined
            self.put("global", g)
            value = fn.__globals__[g]
            if isinstance(value, types.ModuleType):
                self.module(value, attrs, f"global {g!r} of {name}", depth)
            else:
                self.value(value, f"global {g!r} of {name}", depth)

    def module(
        self, mod: types.ModuleType, attrs: set[str] | None, where: str = "", depth: int = 0
    ) -> None:
        """A library module by name and version; a user module also by the attributes the
        code reads from it (``attrs``)."""
        library = library_version(mod.__name__)
        self.put("module", f"{mod.__name__}@{library}")
        if library is not None or not attrs:
            return
        for attr in sorted(attrs):
            if attr in vars(mod):
                self.put("attr", attr)
                self.value(vars(mod)[attr], f"{where}.{attr}", depth + 1)

    def cls(self, cls: type, where: str, depth: int) -> None:
        """A library class by name and version; a user class by its bases and body."""
        library = library_version(cls.__module__)
        name = _qualified(cls)
        if library is not None:
            self.put("libclass", f"{name}@{library}")
            return
        self.put("class", name)
        if self._revisit(cls):
            return
        for base in cls.__bases__:
            self.cls(base, where, depth + 1)
        for attr in sorted(vars(cls)):
            if attr in _CLASS_METADATA:
                continue
            self.put("attr", attr)
            member = vars(cls)[attr]
            if type(member).__name__ in ("getset_descriptor", "member_descriptor"):
                self.put("descriptor", type(member).__name__)
                continue
            self.value(member, f"attribute {attr!r} of class {name}", depth + 1)

    def builtin(self, fn: Any, where: str) -> None:
        """A C function or method: by name and its library's version, when it is bound to
        nothing but a module or a class (a bound C method carries its object's state)."""
        owner = getattr(fn, "__self__", None)
        if owner is not None and not isinstance(owner, types.ModuleType | type):
            raise Unfingerprintable(f"{where} is a method bound to a {_qualified(type(owner))}")
        module = getattr(fn, "__module__", None)
        if module is None and isinstance(owner, types.ModuleType):
            module = owner.__name__
        if module is None and isinstance(owner, type):
            module = owner.__module__
        library = library_version(module)
        if library is None:
            raise Unfingerprintable(f"{where} is a compiled function outside any known library")
        self.put("builtin", f"{module}.{getattr(fn, '__qualname__', fn.__name__)}@{library}")

    def estimator(self, est: Any, where: str, depth: int) -> None:
        """A scikit-learn estimator: class, parameters and fitted attributes (``name_``)."""
        self.put("estimator")
        self.cls(type(est), where, depth)
        params = est.get_params(deep=False)
        for key in sorted(params):
            self.put("param", key)
            self.value(params[key], f"{where}.{key}", depth)
        fitted = sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("_"))
        for key in fitted:
            self.put("fitted", key)
            self.value(vars(est)[key], f"{where}.{key}", depth)


def _is_builtin_callable(v: Any) -> bool:
    return type(v).__name__ in (
        "builtin_function_or_method",
        "method_descriptor",
        "wrapper_descriptor",
        "method-wrapper",
        "classmethod_descriptor",
    )


def _is_estimator(v: Any) -> bool:
    sk = sys.modules.get("sklearn.base")
    return sk is not None and isinstance(v, sk.BaseEstimator)
