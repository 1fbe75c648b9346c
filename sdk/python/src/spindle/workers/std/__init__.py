"""Deprecated alias of :mod:`spindle.py_std` (the ``py-std`` worker); see :mod:`spindle.workers`."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

from spindle.py_std import DEFAULT_ROUTING_KEY, create_worker, main

__all__ = ["create_worker", "main", "DEFAULT_ROUTING_KEY"]

_OLD = __name__ + "."
_NEW = "spindle.py_std."


class _AliasLoader(importlib.abc.Loader):
    """Answers ``spindle.workers.std.<name>`` with the already imported ``spindle.py_std.<name>``, so that both
    names are one module (one ``ProcessPool`` class, one set of module globals) rather than two copies."""

    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        if not fullname.startswith(_OLD) or importlib.util.find_spec(_NEW + fullname[len(_OLD) :]) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(_NEW + fullname[len(_OLD) :]))


# Last, so this package's own files (__main__) are found first by the ordinary path finder.
if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
    sys.meta_path.append(_AliasFinder())
