"""Reading workflow definitions on the client side (the server parses and validates them again on deploy)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["load_definition", "dump_definition"]


def load_definition(source: str | os.PathLike[str]) -> dict[str, Any]:
    """A definition as a dict, from a file path or from YAML/JSON text (a string containing a newline is text).

    Useful to adjust a checked-in definition before deploying it, e.g. to rename it per environment.
    """
    if isinstance(source, os.PathLike) or ("\n" not in source and Path(source).is_file()):
        text = Path(source).read_text(encoding="utf-8")
    else:
        text = str(source)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a workflow definition must be a mapping at the top level")
    return data


def dump_definition(definition: dict[str, Any]) -> str:
    """YAML text of a definition, keys in their given order."""
    return str(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=120))
