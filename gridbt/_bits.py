"""Float arrays made comparable by their bytes: parameter rows are hashed (`param_hash`) and
grouped (entry groups, selection variants) as bytes, so values that are equal must have equal
bits."""

from __future__ import annotations

import numpy as np

from gridbt._typing import FloatArray

__all__ = ["equal_bits"]


def equal_bits(values: FloatArray) -> FloatArray:
    """A C-contiguous float64 copy of `values` whose equal values have equal bits: one NaN bit
    pattern (NaN is a rule switched off, whatever its payload) and -0.0 as 0.0. One pass and
    one temporary (the NaN mask): on a block of 8,192 parameter rows a copy is 30 MB."""
    out: FloatArray = np.add(values, 0.0, dtype=np.float64, order="C")  # -0.0 + 0.0 = 0.0
    np.copyto(out, np.nan, where=np.isnan(out))
    return out
