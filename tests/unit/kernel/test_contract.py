"""The kernel's array contract (`gridbt/kernel/contract.py`) against the code that uses it:
positions unique and contiguous, every parameter written by the encoder and read by the kernel,
every output column written by the kernel, no position written by hand, chain arrays as packed."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.kernel import contract as K
from gridbt.kernel.dispatch import chain_arrays, run_params
from gridbt.kernel.enums import MAX_FILTERS, MAX_LEGS, MAX_SCENARIOS, SkipReason
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.presets import PRESETS
from gridbt.testing import flat_vol_chain

ROOT = Path(__file__).resolve().parents[3] / "gridbt"
KERNEL_FILES = sorted((ROOT / "kernel").glob("*nb.py"))
ENCODER = ROOT / "strategy" / "encode.py"
INPUTS = {"P": K.Scalars, "LEG": K.LegFields, "F": K.FilterFields, "S": K.ScenarioFields}
OUTPUTS = {"T": K.TradeColumns, "G": K.LegColumns, "D": K.DailyColumns, "C": K.Counters}
LAYOUTS = {**INPUTS, **OUTPUTS}


@pytest.fixture(scope="module")
def packed() -> PackedChain:
    """Sixty business days of a flat-vol chain, spot drifting, expiries a month apart."""
    days = [d.astype(object) for d in np.busday_offset("2024-01-02", np.arange(60),
                                                       roll="forward")]
    spots = list(100.0 + np.sin(np.arange(60) / 5.0) * 4.0)
    expiries = [dt.date(2024, m, 15) for m in range(2, 7)]
    return pack_chain(flat_vol_chain(days, spots, expiries, list(np.arange(70.0, 131.0, 2.5))))


def _attributes(path: Path, store: bool | None = None) -> dict[str, set[str]]:
    """`<layout>.<field>` uses in a file, by layout name; `store` keeps only the uses inside
    a subscript that is assigned to (True) or only those that are read (False)."""
    tree = ast.parse(path.read_text())
    stored: set[int] = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AugAssign) else []
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Subscript):
                    stored.update(id(n) for n in ast.walk(sub.slice))
    found: dict[str, set[str]] = {name: set() for name in LAYOUTS}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in LAYOUTS:
            if store is None or (id(node) in stored) == store:
                found[node.value.id].add(node.attr)
    return found


def _union(files: list[Path], store: bool | None = None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {name: set() for name in LAYOUTS}
    for path in files:
        for name, fields in _attributes(path, store).items():
            out[name] |= fields
    return out


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_positions_are_unique_and_contiguous(name: str) -> None:
    layout = LAYOUTS[name]
    positions = getattr(K, name)
    assert tuple(positions) == tuple(range(len(layout._fields)))
    assert positions._fields == layout._fields
    assert len(set(layout._fields)) == len(layout._fields)


def test_the_parameter_blocks_follow_each_other_without_gaps() -> None:
    assert K.P_LEG0 == K.N_SCALARS == len(K.Scalars._fields)
    assert K.P_FILTER0 == K.P_LEG0 + MAX_LEGS * K.LEG_SIZE
    assert K.P_SCEN0 == K.P_FILTER0 + MAX_FILTERS * K.FILTER_SIZE
    assert K.N_PARAMS == K.P_SCEN0 + MAX_SCENARIOS * K.SCEN_SIZE


def test_record_dtypes_are_the_output_columns_in_order() -> None:
    assert K.trade_dt.names == K.TradeColumns._fields
    assert K.leg_dt.names == K.LegColumns._fields
    assert K.N_TRADE_COLS == len(K.trade_dt.names) and K.N_LEG_COLS == len(K.leg_dt.names)
    assert {K.trade_dt[n].kind for n in K.trade_dt.names} == {"i", "f"}


@pytest.mark.parametrize("name", list(INPUTS))
def test_every_parameter_is_written_by_the_encoder_and_read_by_the_kernel(name: str) -> None:
    fields = set(INPUTS[name]._fields)
    written = _attributes(ENCODER, store=True)[name]
    read = _union(KERNEL_FILES, store=False)[name]
    assert written == fields, f"encoder: missing {fields - written}, unknown {written - fields}"
    assert read == fields, f"kernel: unread {fields - read}, unknown {read - fields}"


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_every_output_column_is_written_by_the_kernel(name: str) -> None:
    fields = set(OUTPUTS[name]._fields)
    written = _union(KERNEL_FILES, store=True)[name]
    assert written == fields, f"kernel: unwritten {fields - written}, unknown {written - fields}"


def _literal_positions(path: Path) -> list[str]:
    """Subscripts of parameter and output arrays by a bare number (a position by hand)."""
    arrays = {"params", "p", "trades", "legs", "daily", "counters", "row", "out", "scen"}
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                and node.value.id in arrays:
            index = node.slice.elts[-1] if isinstance(node.slice, ast.Tuple) else node.slice
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                bad.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return bad


def test_no_position_is_written_by_hand() -> None:
    assert [b for f in [*KERNEL_FILES, ENCODER] for b in _literal_positions(f)] == []


def test_chain_arrays_are_read_only_views_of_the_packed_arrays_with_the_declared_dtypes(
    packed: PackedChain,
) -> None:
    chain = chain_arrays(packed)
    assert isinstance(chain, K.Chain)
    assert set(K.Chain._fields) <= {f.name for f in PackedChain.__dataclass_fields__.values()}
    for name, dtype in K.chain_dtypes().items():
        array, source = getattr(chain, name), getattr(packed, name)
        # a read-only view of the packed array's memory (no copy), of the declared dtype
        assert array.dtype == dtype and array.shape == source.shape, name
        assert array.ctypes.data == source.ctypes.data and not array.flags.writeable, name


def test_a_chain_array_of_another_dtype_is_refused_by_name(packed: PackedChain) -> None:
    wrong = PackedChain(**{**vars(packed), "quote_strike": packed.quote_strike.astype(np.float32)})
    with pytest.raises(TypeError, match="quote_strike is float32, the kernel takes float64"):
        chain_arrays(wrong)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_run_through_the_declared_vector(name: str, packed: PackedChain) -> None:
    spec = PRESETS[name]()
    params = encode_spec(spec, packed)
    assert params.shape == (K.N_PARAMS,)
    result = run_params(packed, params)
    assert result.trades.dtype == K.trade_dt and result.legs.dtype == K.leg_dt
    assert result.daily.shape == (packed.n_days, K.N_DAILY_COLS)
    assert result.skips.shape == (len(SkipReason.NAMES),)
    # each trade's legs land in its own MAX_LEGS rows, in the spec's order
    n = len(spec.structure.legs)
    assert (result.trades["n_legs"] == n).all()
    for t in range(len(result.trades)):
        rows = result.legs[t * MAX_LEGS : (t + 1) * MAX_LEGS]
        assert (rows["strike"][:n] > 0).all() and (rows["strike"][n:] == 0).all()
        sides = [1 if leg.side == "long" else -1 for leg in spec.structure.legs]
        assert list(np.sign(rows["units"][:n]) * result.trades["direction"][t]) == sides
