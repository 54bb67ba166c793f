"""`gridbt demo` ends with the command that browses what it wrote, and its URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gridbt.workflows import demo


def test_the_demo_ends_with_the_serve_command_for_its_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo output"
    monkeypatch.setattr(demo, "ensure_synthetic_chain", lambda: (tmp_path, None, False))
    monkeypatch.setattr(demo, "chain_info", lambda chain: {})
    monkeypatch.setattr(demo, "run_and_write", lambda *args: None)
    monkeypatch.setattr(demo, "format_summary", lambda *args: "")
    calls: list[str] = []

    def step(name: str, code: int) -> Any:
        return lambda out_dir: calls.append(name) or code

    monkeypatch.setattr(demo, "_demo_sweep", step("sweep", 0))
    monkeypatch.setattr(demo, "_demo_study", step("study", 0))
    assert demo.run_demo(out) == 0
    last = capsys.readouterr().out.strip().splitlines()[-2:]
    assert last == [f"browse every result above: gridbt serve --root '{out}'",
                    "then open http://127.0.0.1:8765/ in a browser"]
    assert calls == ["sweep", "study"]
    # an interrupted demo does not offer it
    monkeypatch.setattr(demo, "_demo_sweep", step("sweep", 130))
    assert demo.run_demo(out) == 130
    assert "gridbt serve" not in capsys.readouterr().out
