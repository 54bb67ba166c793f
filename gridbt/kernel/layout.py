"""Layout of the packed parameter vector (one float64 row per backtest) and of the kernel's
trade and leg output rows. Off switches are NaN; booleans are 0/1; enums are their codes."""

from __future__ import annotations

from gridbt.kernel.enums import MAX_FILTERS, MAX_LEGS

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
N_SCALARS = 30

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

N_PARAMS = P_FILTER0 + MAX_FILTERS * FILTER_SIZE

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
N_TRADE_COLS = 14

# leg output row (float64 columns); trade t owns rows t * MAX_LEGS ..
G_RIGHT = 0
G_STRIKE = 1
G_EXPIRY = 2
G_UNITS = 3
G_ENTRY_FILL = 4
G_EXIT_FILL = 5
G_SETTLED = 6
N_LEG_COLS = 7

# per-backtest counters
C_MISSING_QUOTE_DAYS = 0
C_STALE_FILLS = 1
N_COUNTERS = 2
