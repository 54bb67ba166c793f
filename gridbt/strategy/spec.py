"""Strategy spec: the pydantic models behind strategy YAML files (public contract)."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Sequence
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

from gridbt._inputs import brief, describe_yaml_error
from gridbt._typing import PathLike
from gridbt._yaml import load_yaml
from gridbt.kernel.enums import MAX_FILTERS, MAX_LEGS, MAX_SCENARIOS  # fixed kernel blocks

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
    "TrackingConfig",
    "AccountConfig",
    "HedgeConfig",
    "MarginConfig",
    "MAX_SCENARIOS",
    "RiskConfig",
    "SizingConfig",
    "SpecError",
    "StressConfig",
    "StrategySpec",
    "StructureSpec",
    "load_strategy",
]

ReentryReason = Literal[
    "stop_loss", "profit_target", "dte", "max_holding", "rebalance", "delta_breach",
    "margin_call", "margin_partial",
]
StressFamily = Literal["core", "tail", "rr", "rr_tail"]
_CORE: tuple[StressFamily, ...] = ("core",)


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
    legs: list[LegSpec] = Field(min_length=1, max_length=MAX_LEGS)

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
    filters: list[FeatureFilter] = Field(default_factory=list, max_length=MAX_FILTERS)
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
    """How option orders fill (docs/semantics.md, steps 1.4 and 2.8).

    A buy fills at `mid + slippage * (ask - mid) + slippage_per_contract`, a sale at
    `mid - slippage * (mid - bid) - slippage_per_contract` (never below 0); settlement at
    expiry has neither. `slippage_per_contract` is in the option's quoted price units
    (currency per share of the underlying, as bid and ask): 0.01 costs 0.01 x multiplier =
    1.00 per option contract and fill, per unit of a leg's qty.
    """

    slippage: float = Field(0.0, ge=0, le=1, description="0 = mid, 1 = bid/ask")
    slippage_per_contract: float = Field(
        0.0, ge=0, allow_inf_nan=False,
        description="added against the trader to every option fill beyond `slippage`, "
        "option price units (x multiplier per contract)",
    )
    commission_per_contract: float = Field(0.65, ge=0)


class SizingConfig(_Frozen):
    """How many contracts to open (docs/semantics.md, "Sizing").

    With no budget set, `contracts` is the size. With budgets, the size is the smallest of the
    budgets' contract counts, then clipped to [min_contracts, max_contracts].
    """

    contracts: int = Field(1, ge=1, description="fixed size when no budget is set")
    risk_budget: float | None = Field(
        None, gt=0, le=1, description="fraction of equity lost in the worst stress scenario"
    )
    risk_basis: Literal["unhedged", "entry_hedged"] = Field(
        "unhedged", description="stress the options alone, or with the entry hedge"
    )
    margin_budget: float | None = Field(
        None, gt=0, le=1, description="fraction of equity used by initial margin"
    )
    kelly_fraction: float | None = Field(
        None, gt=0, le=1, description="fraction of the Kelly bet (from closed trades) at risk"
    )
    kelly_min_trades: int = Field(10, ge=1, description="closed trades before Kelly applies")
    vol_target: float | None = Field(
        None, gt=0, description="annualised P&L volatility target, fraction of equity"
    )
    min_contracts: int = Field(0, ge=0)
    max_contracts: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> SizingConfig:
        if self.max_contracts is not None and self.min_contracts > self.max_contracts:
            raise ValueError(
                f"min_contracts: {self.min_contracts} exceeds max_contracts {self.max_contracts}"
            )
        return self

    @property
    def budgets(self) -> bool:
        """Whether any budget (risk, margin, Kelly, volatility) sets the size."""
        return any(
            v is not None
            for v in (self.risk_budget, self.margin_budget, self.kelly_fraction, self.vol_target)
        )


class StressConfig(_Frozen):
    """Stress scenarios: a Cartesian grid of shocks, or named families (SEED_PARITY §1.13)."""

    scenarios: Literal["grid", "named"] = "grid"
    families: list[StressFamily] = Field(default_factory=lambda: list(_CORE), min_length=1)
    spot: list[float] = Field(
        default_factory=lambda: [-0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15],
        min_length=1,
        description="relative spot shocks, -0.05 = spot down 5%",
    )
    vol: list[float] = Field(
        default_factory=lambda: [-0.05, 0.0, 0.05], min_length=1,
        description="absolute implied-vol shocks, 0.05 = +5 vol points",
    )
    risk_reversal: list[float] = Field(
        default_factory=lambda: [0.0], min_length=1,
        description="call iv + half, put iv - half; negative steepens the put skew",
    )
    rate: list[float] = Field(default_factory=lambda: [0.0], min_length=1)
    time_days: list[float] = Field(
        default_factory=lambda: [0.0], min_length=1, description="calendar days of decay"
    )

    @field_validator("spot")
    @classmethod
    def _spot(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not x > -1.0]
        if bad:
            raise ValueError(f"{bad[0]} would take spot to or below 0")
        return v

    @field_validator("time_days")
    @classmethod
    def _time(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if x < 0]
        if bad:
            raise ValueError(f"{bad[0]} is negative")
        return v

    @model_validator(mode="after")
    def _size(self) -> StressConfig:
        if self.scenarios == "grid":
            n = len({*self.spot}) * len({*self.vol}) * len({*self.risk_reversal})
            n *= len({*self.rate}) * len({*self.time_days})
            if n > MAX_SCENARIOS:
                raise ValueError(f"scenarios: the grid has {n} scenarios, at most {MAX_SCENARIOS}")
        return self


class MarginConfig(_Frozen):
    """Initial margin per structure contract: none, Reg-T style, or a portfolio-margin proxy."""

    model: Literal["none", "regt", "pm"] = "none"
    broad_index: bool = Field(True, description="Reg-T base 15% (broad index) else 20%")
    min_underlying_pct: float = Field(0.10, ge=0, le=1, description="Reg-T short-call floor")
    min_put_pct: float = Field(0.10, ge=0, le=1, description="Reg-T short-put floor, of strike")
    house_multiplier: float = Field(1.0, ge=1)
    house_floor: float = Field(0.0, ge=0, description="per contract, currency")
    stress_multiplier: float = Field(1.0, gt=0, description="pm: worst stress loss multiplier")
    minimum: float = Field(0.0, ge=0, description="pm: minimum per contract, currency")


class AccountConfig(_Frozen):
    """Margin account: maintenance, margin calls, forced liquidation and financing."""

    maintenance_ratio: float = Field(0.75, gt=0, le=2, description="maintenance / initial")
    grace_days: int = Field(1, ge=0, description="call days tolerated before liquidation")
    liquidation: Literal["full", "target"] = "full"
    liquidation_buffer: float = Field(0.0, ge=0, description="target mode: headroom kept")
    cash_rate: float = Field(0.0, ge=-0.1, le=1, description="annual, on equity above margin")
    borrow_rate: float = Field(0.0, ge=0, le=1, description="annual, on margin above equity")


class RiskConfig(_Frozen):
    """Pricing inputs, stress scenarios, margin model and margin account."""

    rate: float = Field(0.0, ge=-0.1, le=1, description="continuous risk-free rate for repricing")
    dividend: float = Field(0.0, ge=-0.1, le=1, description="continuous dividend yield")
    stress: StressConfig = Field(default_factory=StressConfig)
    margin: MarginConfig = Field(default_factory=MarginConfig)
    account: AccountConfig = Field(default_factory=AccountConfig)


class HedgeConfig(_Frozen):
    """Delta hedging with the underlying. Deltas are shares per structure contract; the band's
    widths are per contract or for the whole position (`band_units`)."""

    enabled: bool = False
    band: Literal["none", "fixed", "ww"] = "fixed"
    band_units: Literal["per_contract", "position"] = Field(
        "per_contract",
        description="half_width, ww_min and ww_max in shares per structure contract, or in "
        "shares of the whole position (Whalley-Wilmott then uses the position's gamma)",
    )
    half_width: float = Field(10.0, ge=0, description="fixed band, shares (band_units)")
    ww_c: float = Field(1.0, gt=0, description="Whalley-Wilmott calibration constant")
    ww_min: float = Field(0.0, ge=0, description="Whalley-Wilmott band floor, shares (band_units)")
    ww_max: float = Field(50.0, gt=0, description="Whalley-Wilmott band cap, shares (band_units)")
    ww_fee: float | None = Field(None, ge=0, description="fee rate; default slippage_bps/1e4")
    rebalance_to: Literal["center", "boundary"] = "center"
    every_days: int | None = Field(None, ge=1, description="time trigger, exit.period_unit days")
    combine: Literal["or", "and"] = "or"
    target_delta: float = Field(0.0, description="target net delta, shares per contract")
    at_entry: bool = Field(False, description="hedge to the target when the position opens")
    min_trade: float = Field(0.0, ge=0, description="smaller trades are skipped, shares")
    max_trade: float | None = Field(None, gt=0, description="trades are clipped to this, shares")
    commission_per_share: float = Field(0.0, ge=0)
    slippage_bps: float = Field(0.0, ge=0, le=1000)

    @model_validator(mode="after")
    def _trigger(self) -> HedgeConfig:
        if self.enabled and self.band == "none" and self.every_days is None:
            raise ValueError("band: 'none' needs every_days (a hedge needs a band or a period)")
        if self.band == "ww" and self.rebalance_to != "boundary":
            raise ValueError("rebalance_to: the Whalley-Wilmott band trades to the boundary")
        if self.ww_min > self.ww_max:
            raise ValueError(f"ww_min: {self.ww_min} exceeds ww_max {self.ww_max}")
        return self


class TrackingConfig(_Frozen):
    """Where a job's runs are logged in MLflow (the ``mlflow:`` section of a job file)."""

    enabled: bool = True
    tracking_uri: str | None = Field(
        None, description="null = $MLFLOW_TRACKING_URI, else SQLite in the output directory"
    )
    experiment: str | None = Field(None, description="null = the job's name")


class StrategySpec(_Frozen):
    """One options strategy: structure, entry, exits, re-entry, execution and sizing.

    `mlflow` logs a `gridbt backtest` of the strategy (experiment null = "backtests"); it is
    not part of the strategy (not hashed, not encoded), and a sweep or study over the strategy
    logs where its own ``mlflow:`` section says.
    """

    name: str = "strategy"
    capital: float = Field(100_000.0, gt=0)
    multiplier: float = Field(100.0, gt=0)
    structure: StructureSpec
    entry: EntryConfig = Field(default_factory=EntryConfig)
    exit: ExitConfig = Field(default_factory=ExitConfig)
    reentry: ReentryConfig = Field(default_factory=ReentryConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    sizing: SizingConfig = Field(default_factory=SizingConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    hedge: HedgeConfig = Field(default_factory=HedgeConfig)
    mlflow: TrackingConfig | None = Field(
        None, description="log `gridbt backtest` runs to MLflow; null = only with --mlflow"
    )

    @model_validator(mode="after")
    def _risk_consistent(self) -> StrategySpec:
        if self.sizing.margin_budget is not None and self.risk.margin.model == "none":
            raise ValueError("sizing.margin_budget: needs risk.margin.model regt or pm")
        if self.sizing.risk_basis == "entry_hedged" and not self.hedge.enabled:
            raise ValueError("sizing.risk_basis: entry_hedged needs hedge.enabled")
        return self

    def stable_hash(self) -> str:
        """Return a hash of the spec's content (names excluded) for result deduplication."""
        payload = self.model_dump(mode="json", exclude={"name", "mlflow"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class SpecError(ValueError):
    """A strategy spec that does not validate; the message names each field and value."""


_UNION_TAGS = frozenset({"delta", "moneyness", "offset", "always", "zscore"})
_TYPE_TAGS = frozenset({"bool", "int", "float", "str", "none"})
_MAX_LINES = 20  # errors listed; a list of a thousand bad items is named by its first ones
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


def _name(name: str, field: Any) -> str:
    return str(field.alias or name)


def _fields_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> tuple[str, ...]:
    """Field names (aliases where set) of the model at a pydantic error location under
    `root`, or () when ambiguous."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        fields = [f for m in models for n, f in m.model_fields.items() if _name(n, f) == part]
        if fields:
            models = [model for f in fields for model in _models_in(f.annotation)]
        else:  # a discriminator tag: keep the member whose Literal field holds it
            models = [
                m
                for m in models
                if any(part in get_args(f.annotation) for f in m.model_fields.values())
            ]
    if len(models) != 1:
        return ()
    return tuple(_name(n, f) for n, f in models[0].model_fields.items())


def unknown_key(key: str, allowed: Sequence[str]) -> str:
    """`unknown key, did you mean 'x'?`, or the allowed keys when none is close."""
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key, did you mean {close[0]!r}?"
    return f"unknown key; expected one of: {', '.join(allowed)}" if allowed else "unknown key"


def _shown(value: object, msg: str) -> str:
    """` (got value)` when the message does not already start with it and it is short."""
    if isinstance(value, dict):
        return ""
    text = brief(value, 60)
    if text.endswith("…") or msg.startswith(text) or (
        isinstance(value, str) and msg.startswith(value)
    ):
        return ""
    return f" (got {text})"


def format_validation_error(
    error: ValidationError, source: str = "", what: str = "strategy spec",
    root: type[BaseModel] | None = None,
) -> str:
    """Turn a pydantic error into lines like `structure.legs[1].select.target: 1.4 is not ...`.

    `root` is the model that was validated (default: `StrategySpec`); an unknown key is
    matched against the fields of the model it sits in."""
    model = StrategySpec if root is None else root
    entries: list[tuple[str, str, str]] = []
    for item in error.errors():
        loc = tuple(item["loc"])
        where = _loc(loc)
        msg = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        if item["type"] == "extra_forbidden":
            msg = unknown_key(str(loc[-1]), _fields_at(loc[:-1], model))
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
    lines = [f"{w}: {m}{g}" if w else f"{m}{g}" for w, m, g in entries[:_MAX_LINES]]
    if len(entries) > _MAX_LINES:
        lines.append(f"... and {len(entries) - _MAX_LINES:,} more")
    head = f"{source}: invalid {what}" if source else f"invalid {what}"
    return head + "\n  " + "\n  ".join(lines)


def parse_strategy(payload: object, source: str = "") -> StrategySpec:
    """Validate a decoded YAML/JSON payload into a `StrategySpec`, raising `SpecError`."""
    try:
        return StrategySpec.model_validate(payload)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source)) from None


def read_yaml_file(p: Path, what: str, error: type[SpecError] = SpecError) -> Any:
    """The payload of YAML file `p` (the bounded reader); an unreadable file or bad YAML is
    `error`, naming the file and `what` it is ("strategy file")."""
    try:
        return load_yaml(p)
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{p}: cannot read {what}: {describe_yaml_error(exc)}") from None


def load_strategy(path: PathLike) -> StrategySpec:
    """Load and validate a strategy YAML file."""
    p = Path(path)
    return parse_strategy(read_yaml_file(p, "strategy file"), str(p))
