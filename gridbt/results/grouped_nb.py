"""Grouped statistics of one metric, exact, in one or two passes over the rows.

Array contract: axis 0 = row (a run). `values` float64, NaN where the metric is undefined;
`groups` int64, the row's group in [0, n_groups), negative for a row in no group; `selected`
bool, the rows to count (those passing a query's filter). Outputs have one entry per group
(axis 0 = group); a statistic over no defined value is NaN, a row index -1.

Quantiles interpolate linearly between order statistics, `a + (b - a) * fraction` as pandas'
`groupby(...).quantile` (the median `(a + b) / 2` as its `median`), and the order statistics
are selected exactly (quickselect in a scratch copy), never approximated.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def group_stats_nb(values, groups, selected, n_groups, higher_is_better):
    """Per group: selected rows, of them those with a defined value, min, max, mean
    (compensated sum) and the row of the best value (the first row among equals)."""
    rows = np.zeros(n_groups, np.int64)
    count = np.zeros(n_groups, np.int64)
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    total = np.zeros(n_groups)
    compensation = np.zeros(n_groups)
    best = np.full(n_groups, -1, np.int64)
    for i in range(values.shape[0]):
        g = groups[i]
        if g < 0 or not selected[i]:
            continue
        rows[g] += 1
        v = values[i]
        if v != v:
            continue
        if count[g] == 0:
            low[g] = v
            high[g] = v
            best[g] = i
        elif v < low[g]:
            low[g] = v
            if not higher_is_better:
                best[g] = i
        elif v > high[g]:
            high[g] = v
            if higher_is_better:
                best[g] = i
        count[g] += 1
        t = total[g] + v  # Neumaier's compensated sum
        if abs(total[g]) >= abs(v):
            compensation[g] += (total[g] - t) + v
        else:
            compensation[g] += (v - t) + total[g]
        total[g] = t
    mean = np.full(n_groups, np.nan)
    for g in range(n_groups):
        if count[g] > 0:
            mean[g] = (total[g] + compensation[g]) / count[g]
    return rows, count, low, high, mean, best


@njit(cache=True, nogil=True)
def _select_nb(a, lo, hi, k):
    """Reorder a[lo:hi] in place so that a[k] is its (k - lo)-th smallest value, nothing
    larger before it and nothing smaller after it (Hoare partitions, median-of-three pivot)."""
    hi -= 1
    while hi > lo:
        mid = (lo + hi) >> 1
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@njit(cache=True, nogil=True)
def group_quantiles_nb(values, groups, selected, count, quantiles):
    """Per group (axis 0) and quantile (axis 1, `quantiles` ascending in [0, 1]): the linear
    quantile of the group's defined values; `count` is `group_stats_nb`'s."""
    n_groups = count.shape[0]
    n_quantiles = quantiles.shape[0]
    out = np.full((n_groups, n_quantiles), np.nan)
    start = np.zeros(n_groups + 1, np.int64)
    for g in range(n_groups):
        start[g + 1] = start[g] + count[g]
    fill = start[:n_groups].copy()
    scratch = np.empty(start[n_groups])
    for i in range(values.shape[0]):
        g = groups[i]
        v = values[i]
        if g >= 0 and selected[i] and v == v:
            scratch[fill[g]] = v
            fill[g] += 1
    for g in range(n_groups):
        m = count[g]
        if m == 0:
            continue
        s = start[g]
        e = start[g + 1]
        known = -1  # ranks up to this one are in place: a[s + r] is the r-th smallest
        for q in range(n_quantiles):
            position = (m - 1) * quantiles[q]
            r = int(np.floor(position))
            if r > known:
                _select_nb(scratch, s + known + 1, e, s + r)
                known = r
            a = scratch[s + r]
            fraction = position - r
            if fraction > 0.0:
                b = scratch[s + r + 1]  # the next order statistic: the least after rank r
                for j in range(s + r + 2, e):
                    if scratch[j] < b:
                        b = scratch[j]
                if quantiles[q] == 0.5:  # a median, as pandas' and numpy's: (a + b) / 2
                    out[g, q] = (a + b) / 2.0
                else:
                    out[g, q] = a + (b - a) * fraction
            else:
                out[g, q] = a
    return out
