"""The filter and sort language: what parses, what SQL it makes, what is refused and why."""

from __future__ import annotations

import duckdb
import pytest

from gridbt.results.errors import QueryError
from gridbt.results.query import compile_filter, compile_sort, parse_value

COLUMNS = {"sharpe": "number", "exit.stop_loss": "number", "structure.legs.0.select.target":
           "number", "param_hash": "text", "entry.weekdays": "list", "hedge.enabled": "bool",
           "combo": "number"}


def rows(text: str) -> list[int]:
    """Run a compiled filter on a small table and return the ids it keeps."""
    con = duckdb.connect()
    con.execute('CREATE TABLE t (combo BIGINT, sharpe DOUBLE, "exit.stop_loss" DOUBLE, '
                '"structure.legs.0.select.target" DOUBLE, param_hash VARCHAR, '
                '"entry.weekdays" BIGINT[], "hedge.enabled" BOOLEAN)')
    con.execute("INSERT INTO t VALUES (0, 1.5, 2.0, 0.1, 'aa', [0], true), "
                "(1, -0.5, NULL, 0.2, 'bb', [1], false), (2, NULL, 1.5, 0.3, 'c''c', NULL, "
                "true), (3, 0.9, 2.0, 0.3, 'dd', [0, 2], false)")
    compiled = compile_filter(text, COLUMNS)
    found = con.execute(f"SELECT combo FROM t WHERE {compiled.sql} ORDER BY combo",
                        list(compiled.params)).fetchall()
    return [r[0] for r in found]


@pytest.mark.parametrize(("text", "expected"), [
    ("", [0, 1, 2, 3]),
    ("sharpe > 1", [0]),
    ("sharpe>=0.9 and exit.stop_loss == 2", [0, 3]),
    ("exit.stop_loss = off", [1]),
    ("exit.stop_loss != 2", [1, 2]),
    ("exit.stop_loss is not null", [0, 2, 3]),
    ("sharpe is off", [2]),
    ("not sharpe > 1", [1, 3]),  # an undefined sharpe is neither > 1 nor not
    ("structure.legs.0.select.target in (0.1, 0.3) and not (sharpe < 1)", [0]),
    ("sharpe < 0 OR param_hash = 'c''c'", [1, 2]),
    ('param_hash in ("aa", "dd")', [0, 3]),
    ("hedge.enabled = true", [0, 2]),
    ("entry.weekdays is off", [2]),
    ("combo >= 2", [2, 3]),
    ("sharpe > -1e0", [0, 1, 3]),
])
def test_filters_keep_the_rows_they_say(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_values_are_bound_never_spliced_into_sql() -> None:
    compiled = compile_filter("param_hash = 'x'' OR 1=1 --' and sharpe > 2", COLUMNS)
    assert "OR 1=1" not in compiled.sql and compiled.params == ("x' OR 1=1 --", 2.0)
    assert rows("param_hash = 'x'' OR 1=1 --'") == []


@pytest.mark.parametrize(("text", "message"), [
    ("sharp > 1", "filter: unknown name 'sharp' at position 0"),
    ("sharpe > 1 and", "ends too early"),
    ("sharpe > 1 sharpe", "unexpected 'sharpe' at position 11"),
    ("(sharpe > 1", "expected ')'"),
    ("sharpe > 1; drop table t", "unexpected ';' at position 10"),
    ("sharpe = 'high'", "sharpe holds number values, not the text 'high'"),
    ("param_hash > 1", "param_hash holds text values, not the number 1"),
    ("hedge.enabled > true", "compare it with = or !="),
    ("entry.weekdays = 1", "holds lists"),
    ("sharpe is 1", "takes off or null"),
    ("sharpe < off", "off is only = or != to a value"),
    ("1 < sharpe", "expected a name at position 0"),
    ("sharpe in 1", "expected '(' after in"),
    ("x" * 2001, "longer than 2000"),
    (" or ".join(["sharpe > 1"] * 101), "more than 100 comparisons"),
])
def test_bad_filters_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(QueryError, match="^filter: ") as error:
        compile_filter(text, COLUMNS)
    assert message in str(error.value)


def test_sort_keys_compile_to_quoted_columns_off_last() -> None:
    assert compile_sort(["-sharpe", "exit.stop_loss"], COLUMNS) == (
        '"sharpe" DESC NULLS LAST, "exit.stop_loss" ASC NULLS LAST')
    with pytest.raises(QueryError, match="sort: unknown key 'sharp'"):
        compile_sort(["-sharp"], COLUMNS)
    with pytest.raises(QueryError, match="cannot be sorted"):
        compile_sort(["entry.weekdays"], COLUMNS)


def test_where_values_take_the_column_type() -> None:
    assert parse_value("2", "number", "x") == 2.0
    assert parse_value("off", "number", "x") is None
    assert parse_value("True", "bool", "x") is True
    assert parse_value("calendar", "text", "x") == "calendar"
    with pytest.raises(QueryError, match="where: x holds numbers, not 'two'"):
        parse_value("two", "number", "x")
