"""Entry groups: the grid walk keeps a group's combinations together, every combination is
scheduled exactly once, batches never mix engines and split a group only when it is larger
than a batch, and a split group stays on its actor."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridbt.data.features import FEATURE_NAMES
from gridbt.kernel.tables import MIN_GROUP_ROWS, entry_group_keys, fallback_reasons
from gridbt.runtime import RayConfig
from gridbt.strategy.presets import load_spec
from gridbt.sweep.driver import _Work
from gridbt.sweep.grid import Block, Grid, param_hashes
from gridbt.sweep.groups import FORCED_DAY, engine_counts, entry_factor_order, pieces
from gridbt.sweep.spec import SweepSpec

REPO = Path(__file__).resolve().parents[3]
SHORT_PUT = load_spec(str(REPO / "jobs" / "strategies" / "short_put_30d.yaml"))
#: exit paths first in the file: the walk must still put the entry paths outermost
GRID: dict[str, Any] = {
    "exit.profit_target": [0.25, 0.5, None],
    "structure.legs.0.select.target": [0.15, 0.25, 0.35],
    "exit.stop_loss": [1.5, 3.0, None],
    "hedge.enabled": [False, True],
    "exit.dte": [None, 7],
}


class Features:
    feature_names = FEATURE_NAMES


def make_grid(grid: dict[str, Any] = GRID) -> Grid:
    sweep = SweepSpec.model_validate({"name": "t", "strategy": "unused.yaml", "grid": grid})
    return Grid(sweep, SHORT_PUT, Features(), "t.yaml")


def drain(work: _Work, actors: int, rng: np.random.Generator) -> list[tuple[int, Any]]:
    """Ask for batches as actors in random order free up, until the grid is done."""
    out = []
    while (task := work.next_task(int(rng.integers(actors)))) is not None:
        out.append((task.args, task.tag))
    return out


def test_the_walk_puts_entry_factors_outermost_and_keeps_ids() -> None:
    grid = make_grid()
    order = entry_factor_order(grid)
    paths = [grid.factors[k].paths for k in order]
    assert paths[:2] == [("structure.legs.0.select.target",), ("hedge.enabled",)]
    walked = np.concatenate([b.combo for b in grid.blocks(chunk=7, order=order)])
    assert sorted(walked.tolist()) == list(range(grid.size))
    block = grid.block(0, grid.size)
    for b in grid.blocks(chunk=5, order=order):  # same rows as the file-order walk
        np.testing.assert_array_equal(b.params, block.params[b.combo])
    keys = entry_group_keys(np.concatenate([b.params for b in grid.blocks(order=order)]))
    runs = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    assert len(runs) == len(np.unique(keys)) == 6  # each group once, contiguous


def test_pieces_are_one_per_group_then_the_fallbacks() -> None:
    grid = make_grid()
    block = grid.block(0, grid.size)
    hashes = param_hashes(block.params)
    cut = pieces(block, hashes, "auto")
    assert [p.engine for p in cut] == ["tables"] * 3 + ["day"]
    assert all(len(p) == 18 for p in cut[:3]) and len(cut[3]) == 54
    assert set(cut[3].fallback) == {"delta_hedge"}
    assert all(set(p.fallback) == {""} for p in cut[:3])
    for p in cut[:3]:
        assert len(set(entry_group_keys(p.block.params).tolist())) == 1
        assert (fallback_reasons(p.block.params) == 0).all()
    assert sorted(h for p in cut for h in p.hashes) == sorted(hashes)
    (day,) = pieces(block, hashes, "day")
    assert day.engine == "day" and set(day.fallback) == {FORCED_DAY} and len(day) == 108


def test_a_walked_blocks_pieces_are_views_of_it_and_any_block_groups_the_same() -> None:
    """A block of the sweep's walk (entry groups outermost) has each group's rows in a run, so
    its pieces are views of the block rather than copies (a 30 MB copy per 8,192 rows of a
    big grid, on the driver); a block in another order is grouped into the same pieces."""
    grid = make_grid({k: v for k, v in GRID.items() if k != "hedge.enabled"})  # all on tables
    (walked,) = grid.blocks(order=entry_factor_order(grid))
    hashes = param_hashes(walked.params)
    cut = pieces(walked, hashes, "auto")
    assert len(cut) == 3 and all(p.engine == "tables" for p in cut)
    assert all(np.shares_memory(p.block.params, walked.params) for p in cut)
    shuffled = np.random.default_rng(0).permutation(len(walked))
    other = Block(walked.combo[shuffled], walked.levels[shuffled], walked.params[shuffled])
    again = pieces(other, [hashes[i] for i in shuffled], "auto")
    assert not any(np.shares_memory(p.block.params, other.params) for p in again)
    by_key = {p.key: p for p in cut}
    assert sorted(by_key) == sorted(p.key for p in again)
    for p in again:  # the same rows, hashes and keys, in the block's order within a group
        q = by_key[p.key]
        order = np.argsort(p.block.combo)
        np.testing.assert_array_equal(p.block.combo[order], q.block.combo)
        np.testing.assert_array_equal(p.block.params[order], q.block.params)
        assert [p.hashes[i] for i in order] == q.hashes


@pytest.mark.parametrize("engine", ["auto", "day"])
@pytest.mark.parametrize("per_combo", [0.3 / 4, 0.3 / 10, 0.3 / 100])  # batches of 4, 10, 100
@pytest.mark.parametrize("seed", [0, 1])
def test_every_combination_is_scheduled_once_and_groups_stay_whole(
    engine: str, per_combo: float, seed: int
) -> None:
    grid = make_grid()
    work = _Work(grid, set(), grid.size, RayConfig(batch_seconds=0.3), False, engine)
    work.live_actors = lambda: 3
    work.per_combo = {"tables": per_combo, "day": per_combo}
    work.remaining = 10**9  # no tail-shrinking: batch sizes are the target
    size = work.batch_size("tables")
    batches = drain(work, 3, np.random.default_rng(seed))
    combos = np.concatenate([tag.combo for _, tag in batches])
    assert sorted(combos.tolist()) == list(range(grid.size))  # each exactly once
    batches_of: collections.Counter[int] = collections.Counter()
    for args, tag in batches:
        assert args[1] == tag.engine
        reasons = fallback_reasons(grid.block(0, grid.size).params[tag.combo])
        if tag.engine == "tables":
            assert engine == "auto" and (reasons == 0).all()
            keys = entry_group_keys(grid.block(0, grid.size).params[tag.combo])
            runs = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            assert len(runs) == len(set(keys.tolist()))  # each group contiguous in a batch
            for key in set(keys.tolist()):
                batches_of[key] += 1
                # a part of a group is never too small to run on tables (groups of 18 here)
                assert (keys == key).sum() >= MIN_GROUP_ROWS
            assert len(tag.combo) <= 2 * size
        else:
            assert engine == "day" or (reasons != 0).all()
            assert set(tag.fallback) == ({FORCED_DAY} if engine == "day" else {"delta_hedge"})
    for n in batches_of.values():  # a group of 18 in as few batches as the size allows
        assert n <= max(1, -(-18 // size))


def test_a_split_group_stays_on_its_actor() -> None:
    grid = make_grid()
    work = _Work(grid, set(), grid.size, RayConfig(batch_seconds=0.3), False, "auto")
    work.per_combo = {"tables": 0.3 / 4, "day": 0.3 / 4}
    work.remaining = 10**9
    params = grid.block(0, grid.size).params
    owner: dict[int, int] = {}
    actors = [0, 1, 2] * 100
    for actor in actors:
        task = work.next_task(actor)
        if task is None:
            break
        if task.tag.engine == "tables":
            for key in set(entry_group_keys(params[task.tag.combo]).tolist()):
                assert owner.setdefault(key, actor) == actor


def test_a_small_grid_gives_every_actor_work_from_its_first_batches() -> None:
    """Before any speed is measured, a grid smaller than the first batches of every slot is
    cut evenly over the slots: the second actor does not idle while the first holds it all."""
    grid = make_grid({k: v for k, v in GRID.items() if k != "hedge.enabled"})  # all on tables
    work = _Work(grid, set(), grid.size, RayConfig(max_in_flight=2), False, "auto")
    work.live_actors = lambda: 2
    tasks = [(actor, work.next_task(actor)) for actor in (0, 0, 1, 1)]
    sizes = [len(task.tag.combo) for _, task in tasks if task is not None]
    assert sum(sizes) == grid.size and max(sizes) < grid.size
    assert any(task is not None for actor, task in tasks if actor == 1)


def test_resume_skips_done_combinations() -> None:
    grid = make_grid()
    hashes = param_hashes(grid.block(0, grid.size).params)
    done = set(hashes[::3])
    work = _Work(grid, done, grid.size, RayConfig(), False, "auto")
    batches = drain(work, 2, np.random.default_rng(0))
    got = [h for _, tag in batches for h in tag.hashes]
    assert sorted(got) == sorted(set(hashes) - done)
    assert work.skipped == len(done)


def test_a_finished_sweep_is_known_done_from_its_count_and_first_block(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`_Work.finished` (a resume of a finished sweep) says done without hashing the whole
    grid only when the results hold as many hashes as the grid has combinations and the first
    block's are among them; otherwise the run walks the grid as before and computes what is
    missing."""
    import gridbt.sweep.driver as driver

    monkeypatch.setattr(driver, "_BLOCK_ROWS", 10)  # the grid is 11 blocks
    grid = make_grid()
    hashes = param_hashes(grid.block(0, grid.size).params)
    first = set(param_hashes(grid.block(0, 10).params))

    work = _Work(grid, set(hashes), grid.size, RayConfig(), False, "auto")
    assert work.finished()
    assert (work.skipped, work.remaining) == (grid.size, 0)

    # one of the first block's missing, the count made up by a row of no combination here
    missing = sorted(first)[0]
    done = set(hashes) - {missing} | {"f" * 16}
    work = _Work(grid, done, grid.size, RayConfig(), False, "auto")
    assert not work.finished() and not work.exhausted()
    assert [h for _, tag in drain(work, 2, np.random.default_rng(1))
            for h in tag.hashes] == [missing]

    # results of another parameter encoding (another gridbt version): none is this grid's
    other = set(param_hashes(grid.block(0, grid.size).params + 1.0))
    work = _Work(grid, other, grid.size, RayConfig(), False, "auto")
    assert not work.finished()
    assert len(drain(work, 2, np.random.default_rng(2))) > 0 and work.skipped == 0

    # constraints leave the first block empty (ids 0-11 have the 0.15 delta): the first block
    # with a valid combination is the one checked
    sweep = SweepSpec.model_validate({"name": "t", "strategy": "unused.yaml", "grid": GRID,
                                      "constraints": ["structure.legs.0.select.target > 0.2"]})
    constrained = Grid(sweep, SHORT_PUT, Features(), "t.yaml")
    valid = constrained.block(0, constrained.size)
    assert len(constrained.block(0, 10)) == 0 and valid.combo[0] == 12
    hashes = param_hashes(valid.params)
    done = set(hashes[1:]) | {"f" * 16}
    work = _Work(constrained, done, len(valid), RayConfig(), False, "auto")
    assert not work.finished()
    assert [h for _, tag in drain(work, 2, np.random.default_rng(3))
            for h in tag.hashes] == [hashes[0]]


def test_engine_counts_name_each_reason() -> None:
    engines = np.array(["tables", "tables", "day", "day", "day"], dtype=object)
    fallback = np.array(["", "", "delta_hedge", "margin_calls", "delta_hedge"], dtype=object)
    assert engine_counts("auto", engines, fallback, replayed=1) == {
        "engine": "auto", "tables": 2, "day": 3, "replayed": 1,
        "fallback": {"delta_hedge": 2, "margin_calls": 1},
    }
