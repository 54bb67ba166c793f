"""Strategy spec: the pydantic models behind strategy YAML files (public contract)."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from gridbt._typing import PathLike

__all__ = [
    "DteWindow",
    "EntryConfig",
    "ExecutionConfig",
    "ExitConfig",
    "FeatureFilter",
    "LegSpec",
    "ReentryConfig",
    "SelectDelta",
    "SelectMoneyness",
    "SelectOffset",
    "SignalAlways",
    "SignalZScore",
    "SizingConfig",
    "SpecError",
    "StrategySpec",
    "StructureSpec",
    "load_strategy",
    "EXIT_REASONS",
]

EXIT_REASONS = (
    "expiry",
    "stop_loss",
    "profit_target",
    "dte",
    "max_holding",
    "rebalance",
    "delta_breach",
    "signal",
    "end_of_data",
)
ReentryReason = Literal[
    "stop_loss", "profit_target", "dte", "max_holding", "rebalance", "delta_breach"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SelectDelta(_Frozen):
    """Pick the strike whose |delta| is nearest `target`, within `tolerance`."""

    by: Literal["delta"] = "delta"
    target: float = Field(description="target |delta|, in (0, 1)")
    tolerance: float = Field(0.10, gt=0, le=1, description="max | |delta| - target |")

    @field_validator("target")
    @classmethod
    def _delta_range(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError(f"{v} is not a delta in (0, 1)")
        return v


class SelectMoneyness(_Frozen):
    """Pick the strike whose strike/spot is nearest `target`, within `tolerance`."""

    by: Literal["moneyness"]
    target: float = Field(gt=0, description="target strike / spot, e.g. 0.95")
    tolerance: float = Field(0.02, gt=0)


class SelectOffset(_Frozen):
    """Pick the strike nearest `points` away from the strike of leg `of` (an earlier leg)."""

    by: Literal["offset"]
    of: int = Field(ge=0, le=3)
    points: float
    tolerance: float = Field(0.0, ge=0, description="max distance from the target strike, points")


def _tag_or(default: str, key: str) -> Callable[[Any], str]:
    """A discriminator that reads `key` and falls back to `default` when it is absent."""

    def tag(value: Any) -> str:
        found = value.get(key, default) if isinstance(value, dict) else getattr(value, key, default)
        return str(found)

    tag.__name__ = key  # pydantic names the discriminator in its errors as `key()`
    return tag


Select = Annotated[
    Annotated[SelectDelta, Tag("delta")]
    | Annotated[SelectMoneyness, Tag("moneyness")]
    | Annotated[SelectOffset, Tag("offset")],
    Discriminator(_tag_or("delta", "by")),
]


class LegSpec(_Frozen):
    right: Literal["C", "P"]
    side: Literal["long", "short"]
    qty: int = Field(1, ge=1, le=100, description="ratio of this leg per structure unit")
    select: Select
    expiry_group: Literal[0, 1] = Field(0, description="0 = near expiry, 1 = far (`dte_far`)")
    min_open_interest: int = Field(0, ge=0)
    min_volume: int = Field(0, ge=0)
    max_relative_spread: float | None = Field(None, gt=0, description="(ask-bid)/mid cap")


class DteWindow(_Frozen):
    target: int = Field(ge=0)
    min: int = Field(ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> DteWindow:
        if not self.min <= self.target <= self.max:
            raise ValueError(
                f"need min <= target <= max, got {self.min}, {self.target}, {self.max}"
            )
        return self


class StructureSpec(_Frozen):
    dte: DteWindow
    dte_far: DteWindow | None = Field(None, description="expiry window of expiry_group 1 legs")
    legs: list[LegSpec] = Field(min_length=1, max_length=4)

    @model_validator(mode="after")
    def _legs_consistent(self) -> StructureSpec:
        for i, leg in enumerate(self.legs):
            if isinstance(leg.select, SelectOffset) and leg.select.of >= i:
                raise ValueError(
                    f"legs[{i}].select.of: {leg.select.of} must name an earlier leg (< {i})"
                )
            if leg.expiry_group == 1 and self.dte_far is None:
                raise ValueError(f"legs[{i}].expiry_group: 1 needs structure.dte_far")
        return self


class FeatureFilter(_Frozen):
    feature: str
    min: float | None = None
    max: float | None = None


class SignalAlways(_Frozen):
    kind: Literal["always"] = "always"
    direction: Literal["long", "short"] = "long"


class SignalZScore(_Frozen):
    kind: Literal["zscore"]
    feature: str
    window: int = Field(60, ge=2)
    entry: float = Field(2.0, gt=0)
    exit: float = Field(0.5, ge=0)
    inverted: bool = False


Signal = Annotated[
    Annotated[SignalAlways, Tag("always")] | Annotated[SignalZScore, Tag("zscore")],
    Discriminator(_tag_or("always", "kind")),
]


class EntryConfig(_Frozen):
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    every_n_days: int = Field(1, ge=1)
    filters: list[FeatureFilter] = Field(default_factory=list, max_length=4)
    signal: Signal = Field(default_factory=SignalAlways)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        bad = [d for d in v if not 0 <= d <= 6]
        if bad:
            raise ValueError(f"{bad[0]} is not a weekday (Monday = 0 .. Sunday = 6)")
        return v


class ExitConfig(_Frozen):
    profit_target: float | None = Field(None, gt=0, description="fraction of the entry premium")
    stop_loss: float | None = Field(None, gt=0, description="multiple of the entry premium")
    dte: int | None = Field(None, ge=0, description="close when days to expiry <= this")
    max_holding_days: int | None = Field(None, ge=1)
    rebalance_days: int | None = Field(None, ge=1)
    delta_breach: float | None = Field(None, gt=0, lt=1)
    period_unit: Literal["calendar", "trading"] = "calendar"


class ReentryConfig(_Frozen):
    same_day: bool | list[ReentryReason] = False


class ExecutionConfig(_Frozen):
    slippage: float = Field(0.0, ge=0, le=1, description="0 = mid, 1 = bid/ask")
    commission_per_contract: float = Field(0.65, ge=0)


class SizingConfig(_Frozen):
    contracts: int = Field(1, ge=1)


class StrategySpec(_Frozen):
    """One options strategy: structure, entry, exits, re-entry, execution and sizing."""

    name: str = "strategy"
    capital: float = Field(100_000.0, gt=0)
    multiplier: float = Field(100.0, gt=0)
    structure: StructureSpec
    entry: EntryConfig = Field(default_factory=EntryConfig)
    exit: ExitConfig = Field(default_factory=ExitConfig)
    reentry: ReentryConfig = Field(default_factory=ReentryConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    sizing: SizingConfig = Field(default_factory=SizingConfig)

    def stable_hash(self) -> str:
        """Return a hash of the spec's content (names excluded) for result deduplication."""
        payload = self.model_dump(mode="json", exclude={"name"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class SpecError(ValueError):
    """A strategy spec that does not validate; the message names each field and value."""


_UNION_TAGS = frozenset({"delta", "moneyness", "offset", "always", "zscore"})
_TYPE_TAGS = frozenset({"bool", "int", "float", "str", "none"})
_PATH_PREFIX = re.compile(r"([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): ")


def _is_tag(part: str) -> bool:
    """Whether a location part names a union member (pydantic inserts these), not a field."""
    return part in _UNION_TAGS or part in _TYPE_TAGS or "[" in part or part.startswith("function-")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_tag(part):
            out += ("." if out else "") + part
    return out


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _fields_at(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """Field names of the model at a pydantic error location, or () when ambiguous."""
    models: list[type[BaseModel]] = [StrategySpec]
    for part in loc:
        if isinstance(part, int):
            continue
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        if fields:
            models = [model for f in fields for model in _models_in(f.annotation)]
        else:  # a discriminator tag: keep the member whose Literal field holds it
            models = [
                m
                for m in models
                if any(part in get_args(f.annotation) for f in m.model_fields.values())
            ]
    return tuple(models[0].model_fields) if len(models) == 1 else ()


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    allowed = _fields_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f"unknown key, did you mean {close[0]!r}?"
    return f"unknown key; expected one of: {', '.join(allowed)}" if allowed else "unknown key"


def _shown(value: object, msg: str) -> str:
    if isinstance(value, dict) or msg.startswith(str(value)):
        return ""
    text = repr(value)
    return "" if len(text) > 60 else f" (got {text})"


def format_validation_error(
    error: ValidationError, source: str = "", what: str = "strategy spec"
) -> str:
    """Turn a pydantic error into lines like `structure.legs[1].select.target: 1.4 is not ...`."""
    entries: list[tuple[str, str, str]] = []
    for item in error.errors():
        loc = tuple(item["loc"])
        where = _loc(loc)
        msg = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        if item["type"] == "extra_forbidden":
            msg = _unknown_key(loc)
        elif item["type"] == "missing":
            msg = "missing required key"
        elif item["type"] == "union_tag_invalid":
            ctx = item.get("ctx", {})
            key = str(ctx.get("discriminator", "")).removesuffix("()").strip("'")
            where = f"{where}.{key}" if where else key
            msg = f"{ctx.get('tag')!r} is not one of {ctx.get('expected_tags')}"
            value = None
        elif item["type"] in ("model_type", "dict_type"):
            msg = "expected a mapping of keys to values"
        elif item["type"] == "value_error" and (prefix := _PATH_PREFIX.match(msg)):
            # model validators name the offending field relative to their model
            where = f"{where}.{prefix.group(1)}" if where else prefix.group(1)
            msg = msg[prefix.end() :]
        shown = "" if item["type"] == "missing" else _shown(value, msg)
        if entries and entries[-1][0] == where and entries[-1][2] == shown:
            entries[-1] = (where, f"{entries[-1][1]}; or {msg}", shown)  # union members
        else:
            entries.append((where, msg, shown))
    lines = [f"{w}: {m}{g}" if w else f"{m}{g}" for w, m, g in entries]
    head = f"{source}: invalid {what}" if source else f"invalid {what}"
    return head + "\n  " + "\n  ".join(lines)


def parse_strategy(payload: object, source: str = "") -> StrategySpec:
    """Validate a decoded YAML/JSON payload into a `StrategySpec`, raising `SpecError`."""
    try:
        return StrategySpec.model_validate(payload)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source)) from None


def load_strategy(path: PathLike) -> StrategySpec:
    """Load and validate a strategy YAML file."""
    p = Path(path)
    try:
        payload = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{p}: cannot read strategy file: {exc}") from None
    return parse_strategy(payload, str(p))
