"""Two code-generation helpers the decomposed kernel needs to run as fast as one long function.

- `borrowed_nb(arrays)`: the tuple's arrays as views that hold no reference (null meminfo).
  numba counts references to every array passed to a function, two atomic operations per
  array and call, and its pruning pass gives up on a function the size of the inlined day
  loop: the kernel runs ~8x slower with reference counting on its 30 chain arrays. The
  kernel's inputs outlive the call, so its internal calls can pass borrowed views.
- `stack_record_nb(dtype)`: a zeroed record of a structured dtype on the caller's stack.
  LLVM promotes the fields of a stack record that no non-inlined function sees to registers,
  as it does local variables; fields of a record inside a numpy array stay loads and stores.

Both are `numba.extending.intrinsic`s (public API) whose code generation relies on numba's
data model for arrays (the `meminfo` and `parent` members) and on `numba.core.cgutils`, which
can change between numba releases. They are used on the numba versions they are tested on
(`cache.LOW_LEVEL_NUMBA`); elsewhere, or with `GRIDBT_KERNEL_PORTABLE=1`, the portable forms
below are used: same results (tests/unit/kernel/test_lowlevel.py,
tests/integration/test_kernel_portable.py), several times slower. The choice is part of
the compiled kernels' cache key.
"""

import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

from gridbt.kernel.cache import low_level_codegen, njit

__all__ = [
    "borrowed_fast_nb",
    "borrowed_nb",
    "borrowed_portable_nb",
    "stack_record_fast_nb",
    "stack_record_nb",
    "stack_record_portable_nb",
]


@intrinsic
def borrowed_fast_nb(typingctx, arrays):
    """Views of a tuple's arrays that hold no reference to their memory (null meminfo)."""
    if not isinstance(arrays, types.BaseTuple) or not all(
        isinstance(t, types.Array) for t in arrays.types
    ):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        for i, ty in enumerate(arrays.types):
            view = context.make_array(ty)(context, builder, value=builder.extract_value(value, i))
            view.meminfo = cgutils.get_null_value(view.meminfo.type)
            view.parent = cgutils.get_null_value(view.parent.type)
            value = builder.insert_value(value, view._getvalue(), i)
        return value

    return arrays(arrays), codegen


@intrinsic
def stack_record_fast_nb(typingctx, dtype):
    """A zeroed record of structured dtype `dtype` on the stack of the calling function."""
    if not isinstance(dtype, types.DType) or not isinstance(dtype.dtype, types.Record):
        return None
    record = dtype.dtype

    def codegen(context, builder, signature, args):
        data = context.get_data_type(record)
        pointer = cgutils.alloca_once(builder, data, zfill=True)
        pointer.align = 16
        return pointer

    return record(dtype), codegen


@njit(nogil=True, inline="always")
def borrowed_portable_nb(arrays):
    """The arrays themselves (reference counted as usual)."""
    return arrays


@njit(nogil=True, inline="always")
def stack_record_portable_nb(dtype):
    """A zeroed record of `dtype`, the one element of a new array."""
    return np.zeros(1, dtype)[0]


if low_level_codegen():
    borrowed_nb = borrowed_fast_nb
    stack_record_nb = stack_record_fast_nb
else:
    borrowed_nb = borrowed_portable_nb
    stack_record_nb = stack_record_portable_nb
