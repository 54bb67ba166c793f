"""`gridbt._environ.environment`: variables set for a while, then as they were."""

from __future__ import annotations

import os

import pytest

from gridbt._environ import environment


def test_variables_are_set_inside_and_put_back_as_they_were(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDBT_TEST_KEPT", "earlier")
    monkeypatch.delenv("GRIDBT_TEST_NEW", raising=False)
    with environment({"GRIDBT_TEST_KEPT": "inside", "GRIDBT_TEST_NEW": "inside"}):
        assert os.environ["GRIDBT_TEST_KEPT"] == os.environ["GRIDBT_TEST_NEW"] == "inside"
    assert os.environ["GRIDBT_TEST_KEPT"] == "earlier"
    assert "GRIDBT_TEST_NEW" not in os.environ


def test_an_error_inside_puts_them_back_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDBT_TEST_KEPT", "earlier")
    with pytest.raises(KeyError), environment({"GRIDBT_TEST_KEPT": "inside"}):
        raise KeyError("x")
    assert os.environ["GRIDBT_TEST_KEPT"] == "earlier"
