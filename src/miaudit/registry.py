"""A small name -> object registry used for datasets, models, attacks and defenses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from miaudit.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; unknown names raise an error listing the valid ones.

    ``names()`` (and iteration) are sorted, or in registration order with ``ordered=True``
    (where the order means something: executors, shadow-data sources)."""

    def __init__(self, kind: str, *, ordered: bool = False) -> None:
        self.kind = kind
        self.ordered = ordered
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (names are unique)."""

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items))
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def names(self) -> list[str]:
        return list(self._items) if self.ordered else sorted(self._items)

    def values(self) -> list[T]:
        """The registered objects, in the order of :meth:`names`."""
        return [self._items[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
