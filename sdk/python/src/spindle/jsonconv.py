"""Conversion of Python results to JSON values (docs/worker-protocol.md step 4).

Only the standard library is imported here: the script subprocesses import this module at start-up, and pandas or
numpy are recognised through ``sys.modules`` so that a script that never imports them never pays for them.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["NotSerializableError", "to_json_value", "describe_type"]


class NotSerializableError(TypeError):
    """A value has no JSON form. ``path`` locates it, e.g. ``OUTPUT['rows'][3]``."""

    def __init__(self, type_name: str, path: str, reason: str | None = None) -> None:
        self.type_name = type_name
        self.path = path
        self.reason = reason
        detail = reason or f"value of type {type_name} cannot be converted to JSON"
        super().__init__(f"{detail} at {path}")


def describe_type(value: object) -> str:
    t = type(value)
    module = t.__module__
    return t.__qualname__ if module == "builtins" else f"{module}.{t.__qualname__}"


def to_json_value(value: Any, path: str = "OUTPUT") -> Any:
    """Returns a JSON-compatible copy of ``value``.

    dict keys must be strings; tuples and sets become lists; datetime/date/time become ISO 8601 strings; Decimal a
    string; numpy scalars and arrays numbers or lists; pandas Timestamps ISO strings, DataFrames lists of records
    and Series lists (or objects keyed by label when the index is not the default range); NaN, ±Infinity, NaT and
    NA become null. Anything else raises :class:`NotSerializableError` naming the type and its path.
    """
    # The common cases come first: a trivial script's output should cost next to nothing here.
    t = type(value)
    if value is None or t is str or t is bool or t is int:
        return value
    if t is float:
        return value if math.isfinite(value) else None
    if t is dict:
        return {_key(k, path): to_json_value(v, _item_path(path, k)) for k, v in value.items()}
    if t is list or t is tuple:
        return [to_json_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return _convert_other(value, path)


def _key(key: object, path: str) -> str:
    if isinstance(key, str):
        return str(key)
    raise NotSerializableError(
        describe_type(key), path, f"dict key {key!r} of type {describe_type(key)} is not a string"
    )


def _item_path(path: str, key: object) -> str:
    return f"{path}[{key!r}]"


def _convert_other(value: Any, path: str) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Decimal):
        return None if value.is_nan() or value.is_infinite() else str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return _iso(value, path)
    if isinstance(value, Mapping):
        return {_key(k, path): to_json_value(v, _item_path(path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = list(value)
        try:
            items.sort()
        except TypeError:
            pass  # mixed types: keep iteration order rather than fail a valid set
        return [to_json_value(v, f"{path}[{i}]") for i, v in enumerate(items)]

    module = type(value).__module__.split(".", 1)[0]
    if module == "numpy" and "numpy" in sys.modules:
        return _convert_numpy(value, path)
    if module == "pandas" and "pandas" in sys.modules:
        return _convert_pandas(value, path)
    if module == "polars" and "polars" in sys.modules:
        return _convert_polars(value, path)
    if module == "pyarrow" and "pyarrow" in sys.modules:
        return _convert_pyarrow(value, path)
    raise NotSerializableError(describe_type(value), path)


def _iso(value: _dt.date | _dt.time, path: str) -> Any:
    mod = type(value).__module__.split(".", 1)[0]
    if mod == "pandas":
        pd = sys.modules["pandas"]
        if value is pd.NaT:
            return None
    return value.isoformat()


def _convert_numpy(value: Any, path: str) -> Any:
    np = sys.modules["numpy"]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "mM":
            return [to_json_value(v, f"{path}[{i}]") for i, v in enumerate(value.tolist())]
        return to_json_value(value.tolist(), path)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        pd = sys.modules.get("pandas")
        if pd is not None:
            return pd.Timestamp(value).isoformat()
        return to_json_value(value.astype("datetime64[us]").item(), path)
    if isinstance(value, np.timedelta64):
        raise NotSerializableError(describe_type(value), path)
    if isinstance(value, np.generic):
        return to_json_value(value.item(), path)
    raise NotSerializableError(describe_type(value), path)


def _convert_pandas(value: Any, path: str) -> Any:
    pd = sys.modules["pandas"]
    if value is pd.NaT or value is getattr(pd, "NA", object()):
        return None
    if isinstance(value, pd.DataFrame):
        columns = [c if isinstance(c, str) else str(c) for c in value.columns]
        if len(set(columns)) != len(columns):
            raise NotSerializableError(describe_type(value), path, "DataFrame has duplicate column names")
        rows = []
        for i, row in enumerate(value.itertuples(index=False, name=None)):
            rows.append({c: to_json_value(v, f"{path}[{i}][{c!r}]") for c, v in zip(columns, row)})
        return rows
    if isinstance(value, pd.Series):
        if isinstance(value.index, pd.RangeIndex) and value.index.start == 0 and value.index.step == 1:
            return [to_json_value(v, f"{path}[{i}]") for i, v in enumerate(value.tolist())]
        return {
            (k if isinstance(k, str) else str(k)): to_json_value(v, _item_path(path, k))
            for k, v in value.items()
        }
    if isinstance(value, pd.Index):
        return [to_json_value(v, f"{path}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Categorical):
        return [to_json_value(v, f"{path}[{i}]") for i, v in enumerate(list(value))]
    raise NotSerializableError(describe_type(value), path)


def _convert_polars(value: Any, path: str) -> Any:
    pl = sys.modules["polars"]
    if isinstance(value, pl.DataFrame):
        return to_json_value(value.to_dicts(), path)
    if isinstance(value, pl.Series):
        return to_json_value(value.to_list(), path)
    raise NotSerializableError(describe_type(value), path)


def _convert_pyarrow(value: Any, path: str) -> Any:
    pa = sys.modules["pyarrow"]
    if isinstance(value, pa.Table):
        return to_json_value(value.to_pylist(), path)
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return to_json_value(value.to_pylist(), path)
    raise NotSerializableError(describe_type(value), path)
