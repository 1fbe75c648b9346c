from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from spindle.jsonconv import NotSerializableError, to_json_value


def test_plain_json_values_pass_through_unchanged() -> None:
    value = {"s": "x", "i": 3, "f": 1.5, "b": True, "n": None, "l": [1, [2, {"k": "v"}]]}
    assert to_json_value(value) == value


def test_nan_and_infinities_become_null() -> None:
    assert to_json_value([math.nan, math.inf, -math.inf, 1.0]) == [None, None, None, 1.0]


def test_tuples_and_sets_become_lists() -> None:
    assert to_json_value({"t": (1, 2), "s": {3, 1, 2}, "fs": frozenset({"b", "a"})}) == {
        "t": [1, 2],
        "s": [1, 2, 3],
        "fs": ["a", "b"],
    }


def test_dates_times_and_decimals_become_strings() -> None:
    value = {
        "dt": dt.datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=dt.timezone.utc),
        "d": dt.date(2026, 3, 1),
        "t": dt.time(9, 30),
        "dec": Decimal("12.3400"),
    }
    assert to_json_value(value) == {
        "dt": "2026-03-01T10:00:00.123456+00:00",
        "d": "2026-03-01",
        "t": "09:30:00",
        "dec": "12.3400",
    }


def test_numpy_scalars_and_arrays_become_numbers_and_lists() -> None:
    value = {
        "i": np.int64(7),
        "f": np.float32(0.5),
        "nan": np.float64("nan"),
        "b": np.bool_(True),
        "arr": np.array([[1, 2], [3, 4]]),
        "farr": np.array([1.5, np.nan]),
        "when": np.datetime64("2026-03-01T10:00:00"),
    }
    out = to_json_value(value)
    assert out == {
        "i": 7,
        "f": 0.5,
        "nan": None,
        "b": True,
        "arr": [[1, 2], [3, 4]],
        "farr": [1.5, None],
        "when": "2026-03-01T10:00:00",
    }
    assert type(out["i"]) is int and type(out["b"]) is bool
    json.dumps(out, allow_nan=False)


def test_dataframe_becomes_records_with_nulls_for_missing_values() -> None:
    df = pd.DataFrame(
        {
            "region": ["emea", "amer"],
            "revenue": [10.5, np.nan],
            "orders": [3, 4],
            "day": pd.to_datetime(["2026-01-02", None]),
        }
    )
    assert to_json_value(df) == [
        {"region": "emea", "revenue": 10.5, "orders": 3, "day": "2026-01-02T00:00:00"},
        {"region": "amer", "revenue": None, "orders": 4, "day": None},
    ]


def test_dataframe_with_non_string_column_labels_uses_their_text() -> None:
    df = pd.DataFrame({1: [1], 2: [2]})
    assert to_json_value(df) == [{"1": 1, "2": 2}]


def test_series_with_default_index_is_a_list_and_with_labels_an_object() -> None:
    assert to_json_value(pd.Series([1, 2, 3])) == [1, 2, 3]
    assert to_json_value(pd.Series({"emea": 1.5, "amer": 2.0})) == {"emea": 1.5, "amer": 2.0}


def test_pandas_timestamp_nat_and_na_are_converted() -> None:
    assert to_json_value([pd.Timestamp("2026-01-02 03:04:05"), pd.NaT, pd.NA]) == ["2026-01-02T03:04:05", None, None]


def test_non_string_dict_key_fails_naming_the_key_and_path() -> None:
    with pytest.raises(NotSerializableError) as info:
        to_json_value({"rows": [{1: "x"}]})
    assert "dict key 1 of type int is not a string" in str(info.value)
    assert "OUTPUT['rows'][0]" in str(info.value)


def test_unknown_object_fails_naming_its_type_and_path() -> None:
    class Model:
        pass

    with pytest.raises(NotSerializableError) as info:
        to_json_value({"model": [1, Model()]})
    assert info.value.path == "OUTPUT['model'][1]"
    assert "Model" in info.value.type_name
    assert "cannot be converted to JSON" in str(info.value)
