"""One registry type for scorers, backends and suites: register by name with a decorator, look up
with a "did you mean" on unknown names. A name can also be registered lazily with the module that
registers it, so a package can offer an entry without importing (and depending on) that module."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from .errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self._items[name] = obj

    @contextmanager
    def temporarily(self, name: str, obj: T) -> Iterator[T]:
        """`obj` is registered as `name` inside the block only (a test's own scorer, say), so it
        never leaks into code that lists the registry."""
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        try:
            yield obj
        finally:
            self._items.pop(name, None)

    def register_lazy(self, name: str, module: str) -> None:
        """`name` is registered when `module` is imported; importing it is deferred to the first
        `get(name)`."""
        if name not in self._items:
            self._lazy[name] = module

    def get(self, name: str) -> T:
        if name not in self._items and name in self._lazy:
            importlib.import_module(self._lazy.pop(name))
        try:
            return self._items[name]
        except KeyError:
            raise InputError(
                self.unknown_message(name), hint=f"known {self.kind}s: {', '.join(self.names())}"
            ) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.5)
        msg = f"unknown {self.kind} {name!r}"
        if close:
            msg += f"; did you mean {close[0]!r}?"
        return msg

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        return sorted({*self._items, *self._lazy})
