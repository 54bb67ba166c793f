"""Every YAML file gridbt reads is read within bounds: an alias bomb, a recursive alias, a huge
file or a `!!python` tag is refused while the file is read, in bounded time and memory; an error
message shows a value from a bounded walk of it."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gridbt import _yaml
from gridbt._inputs import brief
from gridbt._yaml import MAX_FILE_BYTES, MAX_VALUES, YamlLimitError, load_yaml, parse_yaml
from gridbt.strategy.spec import SpecError, parse_strategy


def laughs(levels: int = 9) -> str:
    """A flow list whose last item, once its aliases are expanded, holds 9**levels strings."""
    items = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    items += [f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, levels)]
    return f"[{', '.join(items)}]"


@pytest.fixture
def bounded() -> Iterator[None]:
    """Fails the test if it takes more than 2 s or 20 MB (the bombs below would take minutes
    and gigabytes)."""
    tracemalloc.start()
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 2.0
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MB"


@pytest.mark.parametrize(("text", "field"), [
    (f"name: x\nlaughs: {laughs()}\n", "laughs[5][0]"),
    (f"description: {laughs()}\n", "description[5][0]"),
    (f"constraints: {laughs()}\n", "constraints[5][0]"),
    (f"mlflow: {{experiment: {laughs()}}}\n", "mlflow.experiment[5][0]"),
    (f"structure:\n  legs:\n    - select: {laughs()}\n", "structure.legs[0].select[5][0]"),
], ids=["unknown key", "description", "constraints", "mlflow.experiment", "strategy"])
def test_an_alias_bomb_is_refused_as_it_is_read(bounded: None, text: str, field: str) -> None:
    with pytest.raises(YamlLimitError) as err:
        parse_yaml(text)
    assert str(err.value).startswith(f"{field}: alias *l4 at line ")
    assert f"takes the file past {MAX_VALUES:,} values" in str(err.value)


def test_an_alias_bomb_counts_every_value_it_repeats() -> None:
    # *l4 repeats the 9**5 strings and (9**5 - 1) / 8 lists of level 4
    with pytest.raises(YamlLimitError, match=r"alias \*l4 at line 1, column \d+ repeats "
                                             r"66,430 values"):
        parse_yaml(f"x: {laughs()}\n")


def test_anchors_and_aliases_within_the_bound_keep_working() -> None:
    text = ("base: &base {stop_loss: 2.0, dte: 21}\n"
            "exit: *base\n"
            "other: {<<: *base, dte: 7}\n"
            "targets: &t [0.1, 0.2]\n"
            "again: [*t, *t]\n")
    assert parse_yaml(text) == {
        "base": {"stop_loss": 2.0, "dte": 21}, "exit": {"stop_loss": 2.0, "dte": 21},
        "other": {"stop_loss": 2.0, "dte": 7}, "targets": [0.1, 0.2],
        "again": [[0.1, 0.2], [0.1, 0.2]],
    }


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(YamlLimitError, match=r"^grid\.a\[1\]: alias \*x at line 2, column 13 "
                                             r"repeats a node that contains it"):
        parse_yaml("grid:\n  a: &x [1, *x]\n")


def test_many_plain_values_are_refused_at_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_yaml, "MAX_VALUES", 1_000)
    assert len(parse_yaml(f"a: [{', '.join(['0'] * 990)}]\n")["a"]) == 990
    with pytest.raises(YamlLimitError, match=r"^a\[999\]: the value at line 1, column \d+ takes "
                                             r"the file past 1,000 values"):
        parse_yaml(f"a: [{', '.join(['0'] * 2_000)}]\n")


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(
    tmp_path: Path, bounded: None
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("description: '" + "x" * MAX_FILE_BYTES + "'\n")
    with pytest.raises(YamlLimitError, match=f"more than {MAX_FILE_BYTES:,} bytes"):
        load_yaml(path)
    with pytest.raises(YamlLimitError, match=f"{MAX_FILE_BYTES + 16:,} bytes, more than"):
        parse_yaml(path.read_text())


def test_python_tags_stay_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo owned']\n")
    with pytest.raises(yaml.constructor.ConstructorError, match="python/object/apply"):
        load_yaml(path)


def test_an_error_shows_a_value_from_a_bounded_walk(bounded: None) -> None:
    value: object = ["lol"] * 9
    for _ in range(8):  # 9**9 strings once walked: its repr would be ~3 GB
        value = [value] * 9
    assert brief(value) == "[" * 9 + "'lol', " * 7 + "'l…"
    with pytest.raises(SpecError) as err:
        parse_strategy({"structure": {"dte": {"target": 45, "min": 30, "max": 60},
                                      "legs": [{"right": "P", "side": "short",
                                                "select": {"target": 0.3}}]},
                        "laughs": value, "capital": value})
    assert "laughs: unknown key" in str(err.value)
    assert "capital: Input should be a valid number\n" in str(err.value) + "\n"


def test_brief_is_repr_when_short() -> None:
    for value in ([1, 2.5, None, "a"], (1,), (), {"a": [True]}, {1, 2}, "it's", b"x", 3):
        assert brief(value) == repr(value)
    assert brief("x" * 100, 10) == "'xxxxxxxxx…"
