"""Layout of the packed parameter vector (one float64 row per backtest) and of the kernel's
trade and leg output rows. Off switches are NaN; booleans are 0/1; enums are their codes."""

from __future__ import annotations

from gridbt.kernel.enums import MAX_FILTERS, MAX_LEGS, MAX_SCENARIOS

# scalar block
P_CAPITAL = 0
P_MULTIPLIER = 1
P_DTE_TARGET = 2
P_DTE_MIN = 3
P_DTE_MAX = 4
P_FAR_TARGET = 5
P_FAR_MIN = 6
P_FAR_MAX = 7
P_N_LEGS = 8
P_WEEKDAY_MASK = 9
P_EVERY_N_DAYS = 10
P_N_FILTERS = 11
P_SIGNAL_KIND = 12
P_SIGNAL_DIRECTION = 13
P_Z_FEATURE = 14
P_Z_WINDOW = 15
P_Z_ENTRY = 16
P_Z_EXIT = 17
P_Z_INVERTED = 18
P_PROFIT_TARGET = 19
P_STOP_LOSS = 20
P_DTE_EXIT = 21
P_MAX_HOLDING = 22
P_REBALANCE = 23
P_DELTA_BREACH = 24
P_PERIOD_TRADING = 25
P_REENTRY_MASK = 26
P_SLIPPAGE = 27
P_COMMISSION = 28
P_CONTRACTS = 29
# pricing inputs of stress and margin repricing
P_RATE = 30
P_DIVIDEND = 31
# sizing (NaN = budget off)
P_RISK_BUDGET = 32
P_RISK_HEDGED = 33  # 1 = entry_hedged basis
P_MARGIN_BUDGET = 34
P_KELLY_FRACTION = 35
P_KELLY_MIN_TRADES = 36
P_VOL_TARGET = 37
P_MIN_CONTRACTS = 38
P_MAX_CONTRACTS = 39  # NaN = no cap
# margin model (MarginModel code) and its parameters
P_MARGIN_MODEL = 40
P_MARGIN_BROAD = 41
P_MARGIN_MIN_UNDERLYING = 42
P_MARGIN_MIN_PUT = 43
P_MARGIN_HOUSE_MULT = 44
P_MARGIN_HOUSE_FLOOR = 45
P_MARGIN_PM_MULT = 46
P_MARGIN_PM_MIN = 47
# margin account and financing
P_MAINT_RATIO = 48
P_GRACE_DAYS = 49
P_LIQ_TARGET = 50  # 0 = full, 1 = target
P_LIQ_BUFFER = 51
P_CASH_RATE = 52
P_BORROW_RATE = 53
# delta hedge (shares per structure contract unless said otherwise)
P_HEDGE_ON = 54
P_HEDGE_BAND = 55  # HedgeBand code
P_HEDGE_HALF_WIDTH = 56
P_HEDGE_WW_C = 57
P_HEDGE_WW_MIN = 58
P_HEDGE_WW_MAX = 59
P_HEDGE_WW_FEE = 60  # fee rate, already resolved (never NaN)
P_HEDGE_TO_BOUNDARY = 61
P_HEDGE_EVERY = 62  # NaN = no time trigger
P_HEDGE_AND = 63  # 1 = band and time must both fire
P_HEDGE_TARGET = 64
P_HEDGE_AT_ENTRY = 65
P_HEDGE_MIN_TRADE = 66  # shares, whole position
P_HEDGE_MAX_TRADE = 67  # shares, whole position; NaN = no cap
P_HEDGE_COMMISSION = 68  # per share
P_HEDGE_BPS = 69
P_N_SCENARIOS = 70
# day window (docs/semantics.md, Day window): days [first, end) are simulated
P_WINDOW_FIRST = 71  # first day index simulated (0 = the chain's first day)
P_WINDOW_END = 72  # one past the last day index simulated; NaN = to the end of the chain
N_SCALARS = 73

# per-leg block: P_LEG0 + leg * LEG_SIZE + L_*
L_RIGHT = 0
L_SIDE = 1
L_QTY = 2
L_SELECT_BY = 3
L_TARGET = 4
L_TOLERANCE = 5
L_OF = 6
L_POINTS = 7
L_GROUP = 8
L_MIN_OI = 9
L_MIN_VOLUME = 10
L_MAX_SPREAD = 11
LEG_SIZE = 12
P_LEG0 = N_SCALARS

# per-filter block: P_FILTER0 + f * FILTER_SIZE + F_*
F_FEATURE = 0
F_MIN = 1
F_MAX = 2
FILTER_SIZE = 3
P_FILTER0 = P_LEG0 + MAX_LEGS * LEG_SIZE

# per-scenario block: P_SCEN0 + s * SCEN_SIZE + S_*
S_SPOT = 0  # relative: spot * (1 + S_SPOT)
S_VOL = 1  # absolute, decimal
S_RR = 2  # calls + half, puts - half
S_RATE = 3  # absolute
S_YEARS = 4  # time_days / 365
SCEN_SIZE = 5
P_SCEN0 = P_FILTER0 + MAX_FILTERS * FILTER_SIZE

N_PARAMS = P_SCEN0 + MAX_SCENARIOS * SCEN_SIZE

# trade output row (float64 columns)
T_ENTRY_DAY = 0
T_EXIT_DAY = 1
T_EXIT_REASON = 2
T_DIRECTION = 3
T_CONTRACTS = 4
T_N_LEGS = 5
T_ENTRY_PREMIUM = 6
T_ENTRY_CASH = 7
T_EXIT_CASH = 8
T_COMMISSIONS = 9
T_PNL = 10
T_MAE = 11
T_MFE = 12
T_DAYS_HELD = 13
T_HEDGE_PNL = 14  # hedge cash flows incl. unwind and costs
T_HEDGE_COST = 15  # hedge slippage and commissions (a cost, >= 0)
T_FINANCING = 16
T_SIZING_BINDING = 17  # SizingBinding code
T_RISK_PER_CONTRACT = 18  # stress worst loss per contract at entry (NaN = not computed)
T_WORST_SCENARIO = 19  # scenario index of that loss (-1 = not computed)
T_MARGIN_PER_CONTRACT = 20  # initial margin per contract at entry (0 = no model)
T_RISK_CONTRACTS = 21  # raw risk-budget contracts (NaN = off / unbounded)
T_MARGIN_CONTRACTS = 22  # raw margin-budget contracts (NaN = off / unbounded)
N_TRADE_COLS = 23

# leg output row (float64 columns); trade t owns rows t * MAX_LEGS ..
G_RIGHT = 0
G_STRIKE = 1
G_EXPIRY = 2
G_UNITS = 3
G_ENTRY_FILL = 4
G_EXIT_FILL = 5
G_SETTLED = 6
N_LEG_COLS = 7

# daily output row (float64 columns), end of day d; 0 when flat
D_CONTRACTS = 0
D_DELTA = 1  # options delta, shares (sum u * m * N * delta)
D_HEDGE_SHARES = 2
D_NET_DELTA = 3  # D_DELTA + D_HEDGE_SHARES
D_GAMMA = 4  # shares per 1.0 of spot
D_VEGA = 5  # currency per vol point
D_THETA = 6  # currency per calendar day
D_MARGIN = 7  # initial margin of the position
D_MAINTENANCE = 8
D_CALL_DAYS = 9  # consecutive margin-call days
D_PNL_DELTA = 10  # attribution of equity(d) - equity(d-1)
D_PNL_GAMMA = 11
D_PNL_VEGA = 12
D_PNL_THETA = 13
D_PNL_COSTS = 14  # minus spread paid, commissions and hedge costs
D_PNL_FINANCING = 15
D_PNL_RESIDUAL = 16
N_DAILY_COLS = 17

# per-backtest counters
C_MISSING_QUOTE_DAYS = 0
C_STALE_FILLS = 1
N_COUNTERS = 2
