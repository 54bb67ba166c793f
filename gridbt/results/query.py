"""The filter and sort language of run queries, compiled to SQL with bound parameters.

A filter is a small expression over the columns of a sweep's runs (grid paths, KPIs, skip
counters, `combo`, `param_hash`)::

    sharpe > 1 and exit.stop_loss = 2
    (max_drawdown <= 0.2 or calmar >= 1) and not exit.dte = off
    structure.legs.0.select.target in (0.1, 0.2) and exit.profit_target is not off

Comparisons `= == != < <= > >=`, `in (...)`, `is off` / `is not off` (`null` is the same as
`off`: a rule switched off, or an undefined KPI), `and`, `or`, `not` and parentheses. Values are
numbers, quoted strings, `true`/`false` and `off`/`null`. `=` and `!=` treat off as a value
(`exit.stop_loss != 2` keeps the runs without a stop). The text is parsed here; only column names
from the table (quoted) and `?` placeholders reach SQL, never the user's text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridbt.results.errors import QueryError

__all__ = ["ColumnKind", "Compiled", "compile_filter", "compile_sort", "parse_value",
           "quote_name", "sort_key"]

#: What a column holds, for type-checking the values compared with it.
ColumnKind = str  # "number", "text", "bool", "list"

_MAX_FILTER = 2000
_MAX_TERMS = 100
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<op><=|>=|!=|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "is", "true", "false", "null", "off"}
_OFF = object()


@dataclass(frozen=True)
class Compiled:
    """A SQL fragment and its bound parameters."""

    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def quote_name(name: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise QueryError(f"filter: unexpected {text[at]!r} at position {at}")
        kind = match.lastgroup or ""
        word = match.group()
        if kind == "name" and word.lower() in _KEYWORDS:
            kind, word = "keyword", word.lower()
        if kind != "space":
            out.append(_Token(kind, word, at))
        at = match.end()
    return out


class _Parser:
    def __init__(self, text: str, columns: Mapping[str, ColumnKind]):
        if len(text) > _MAX_FILTER:
            raise QueryError(f"filter: longer than {_MAX_FILTER} characters")
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.columns = columns
        self.params: list[Any] = []
        self.terms = 0

    # ------------------------------------------------------------ tokens
    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> _Token:
        token = self._peek()
        if token is None:
            raise QueryError(f"filter: {self.text!r} ends too early")
        self.pos += 1
        return token

    def _accept(self, kind: str, text: str | None = None) -> bool:
        token = self._peek()
        if token is not None and token.kind == kind and (text is None or token.text == text):
            self.pos += 1
            return True
        return False

    def _expect(self, kind: str, text: str, what: str) -> None:
        token = self._peek()
        if not self._accept(kind, text):
            found = f"{token.text!r} at position {token.at}" if token else "the end"
            raise QueryError(f"filter: expected {what}, found {found}")

    # ------------------------------------------------------------ grammar
    def parse(self) -> str:
        sql = self._or()
        token = self._peek()
        if token is not None:
            raise QueryError(f"filter: unexpected {token.text!r} at position {token.at}")
        return sql

    def _or(self) -> str:
        parts = [self._and()]
        while self._accept("keyword", "or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _and(self) -> str:
        parts = [self._not()]
        while self._accept("keyword", "and"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def _not(self) -> str:
        if self._accept("keyword", "not"):
            return f"(NOT {self._not()})"
        if self._accept("punct", "("):
            inner = self._or()
            self._expect("punct", ")", "')'")
            return inner
        return self._comparison()

    def _comparison(self) -> str:
        self.terms += 1
        if self.terms > _MAX_TERMS:
            raise QueryError(f"filter: more than {_MAX_TERMS} comparisons")
        token = self._take()
        if token.kind != "name":
            raise QueryError(f"filter: expected a name at position {token.at}, found "
                             f"{token.text!r}")
        name = token.text
        if name not in self.columns:
            raise QueryError(f"filter: unknown name {name!r} at position {token.at}; "
                             f"names: {', '.join(self.columns)}")
        kind = self.columns[name]
        column = quote_name(name)
        if self._accept("keyword", "is"):
            negate = self._accept("keyword", "not")
            value = self._value(name, kind)
            if value is not _OFF:
                raise QueryError(f"filter: {name} is ... takes off or null")
            return f"({column} IS {'NOT ' if negate else ''}NULL)"
        if self._accept("keyword", "in"):
            self._expect("punct", "(", "'(' after in")
            values = [self._value(name, kind)]
            while self._accept("punct", ","):
                values.append(self._value(name, kind))
            self._expect("punct", ")", "')'")
            return "(" + " OR ".join(self._equal(column, v, False) for v in values) + ")"
        op_token = self._take()
        if op_token.kind != "op":
            raise QueryError(f"filter: expected a comparison after {name} at position "
                             f"{op_token.at}, found {op_token.text!r}")
        op = "=" if op_token.text == "==" else op_token.text
        value = self._value(name, kind)
        if op in ("=", "!="):
            return self._equal(column, value, op == "!=")
        if value is _OFF:
            raise QueryError(f"filter: {name} {op} off: off is only = or != to a value")
        if kind == "bool":
            raise QueryError(f"filter: {name} is true or false; compare it with = or !=")
        self.params.append(value)
        return f"({column} {op} ?)"

    def _equal(self, column: str, value: Any, negate: bool) -> str:
        if value is _OFF:
            return f"({column} IS {'NOT ' if negate else ''}NULL)"
        self.params.append(value)
        return f"({column} IS {'' if negate else 'NOT '}DISTINCT FROM ?)"

    def _value(self, name: str, kind: ColumnKind) -> Any:
        token = self._take()
        if token.kind == "keyword" and token.text in ("off", "null"):
            return _OFF
        if kind == "list":
            raise QueryError(f"filter: {name} holds lists and can only be compared with off")
        if token.kind == "number":
            if kind != "number":
                raise QueryError(f"filter: {name} holds {kind} values, not the number "
                                 f"{token.text}")
            number = float(token.text)
            return int(number) if number.is_integer() and name == "combo" else number
        if token.kind == "string":
            if kind != "text":
                raise QueryError(f"filter: {name} holds {kind} values, not the text "
                                 f"{token.text}")
            quote = token.text[0]
            return token.text[1:-1].replace(quote * 2, quote)
        if token.kind == "keyword" and token.text in ("true", "false"):
            if kind != "bool":
                raise QueryError(f"filter: {name} holds {kind} values, not {token.text}")
            return token.text == "true"
        raise QueryError(f"filter: expected a value for {name} at position {token.at}, found "
                         f"{token.text!r}")


def compile_filter(text: str | None, columns: Mapping[str, ColumnKind]) -> Compiled:
    """Parse a filter over `columns` (name -> kind) into a SQL condition with parameters.

    Raises
    ------
    QueryError
        Naming the unknown name, the bad value or the position of a syntax error.
    """
    if text is None or not text.strip():
        return Compiled("TRUE", ())
    parser = _Parser(text, columns)
    return Compiled(parser.parse(), tuple(parser.params))


def compile_sort(keys: Sequence[str], columns: Mapping[str, ColumnKind]) -> str:
    """`ORDER BY` terms for sort keys (`name` ascending, `-name` descending); off and undefined
    values last either way.

    Raises
    ------
    QueryError
        Naming an unknown or unsortable key.
    """
    terms = []
    for raw in keys:
        name, descending = sort_key(raw)
        if name not in columns:
            raise QueryError(f"sort: unknown key {name!r}; keys: {', '.join(columns)}")
        if columns[name] == "list":
            raise QueryError(f"sort: {name} holds lists and cannot be sorted")
        terms.append(f"{quote_name(name)} {'DESC' if descending else 'ASC'} NULLS LAST")
    return ", ".join(terms)


def sort_key(raw: str) -> tuple[str, bool]:
    """A sort key (`name` or `+name` ascending, `-name` descending) as (name, descending)."""
    key = raw.strip()
    return key.lstrip("-+"), key.startswith("-")


def parse_value(text: str, kind: ColumnKind, name: str) -> Any:
    """A value written in a query string (`where=PATH:VALUE`) as the column's type; None is
    off (`off`, `null`)."""
    word = text.strip()
    if word.lower() in ("off", "null", "none"):
        return None
    if kind == "number":
        try:
            return float(word)
        except ValueError:
            raise QueryError(f"where: {name} holds numbers, not {word!r}") from None
    if kind == "bool":
        if word.lower() not in ("true", "false"):
            raise QueryError(f"where: {name} is true or false, not {word!r}")
        return word.lower() == "true"
    if kind == "list":
        raise QueryError(f"where: {name} holds lists and can only be fixed to off")
    return word
