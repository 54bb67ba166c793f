"""Job files (sweep, study and entries files): a YAML file validated by its model, with a base
strategy given inline or as a file beside it. Every refusal is the caller's `SpecError`
subclass, and names the file, the field and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gridbt._inputs import describe_yaml_error
from gridbt._yaml import load_yaml
from gridbt.strategy.spec import (
    SpecError,
    StrategySpec,
    format_validation_error,
    parse_strategy,
    read_yaml_file,
)

__all__ = ["load_job_file", "resolve_strategy"]

_Job = TypeVar("_Job", bound=BaseModel)


class _InlineStrategy(BaseModel):
    """Validates an inline strategy so that errors are located under `strategy.`."""

    strategy: StrategySpec


def load_job_file(p: Path, model: type[_Job], what: str, error: type[SpecError]) -> _Job:
    """Read `p` (the bounded YAML reader) and validate it as `model`; `what` names the kind of
    file in messages ("sweep file")."""
    payload = read_yaml_file(p, what, error)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise error(format_validation_error(exc, str(p), what, model)) from None


def resolve_strategy(
    p: Path, strategy: str | dict[str, Any], what: str, error: type[SpecError]
) -> StrategySpec:
    """The base strategy of job file `p`: inline, or a file relative to the job file."""
    if isinstance(strategy, dict):
        try:
            inline = _InlineStrategy.model_validate({"strategy": strategy})
        except ValidationError as exc:
            raise error(format_validation_error(exc, str(p), what, _InlineStrategy)) from None
        return inline.strategy
    strategy_path = (p.parent / strategy).resolve()
    try:
        return parse_strategy(load_yaml(strategy_path), str(strategy_path))
    except OSError as exc:
        raise error(f"{p}: strategy: cannot read {strategy!r}: {exc}") from None
    except yaml.YAMLError as exc:
        problem = describe_yaml_error(exc)
        raise error(f"{strategy_path}: cannot read strategy file: {problem}") from None
