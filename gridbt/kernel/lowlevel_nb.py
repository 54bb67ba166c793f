"""Three code-generation helpers that make the decomposed kernel faster than the one long
function it replaced.

- `borrowed_nb(arrays)`: the tuple's arrays as views that hold no reference (null meminfo).
  numba counts references to every array passed to a function, two atomic operations per
  array and call, and its pruning pass gives up on a function the size of the inlined day
  loop: the kernel runs ~8x slower with reference counting on its 30 chain arrays. The
  kernel's inputs outlive the call, so its internal calls can pass borrowed views.
- `stack_record_nb(dtype)`: a zeroed record of a structured dtype on the caller's stack.
  LLVM promotes the fields of a stack record that no non-inlined function sees to registers,
  as it does local variables; fields of a record inside a numpy array stay loads and stores.
- `prefetch_nb(array, index)`: `llvm.prefetch` of one element. Marking an open leg reads a
  quote row at random in arrays far larger than the caches; prefetching tomorrow's row while
  today's steps run hides that wait (`steps_nb.prefetch_quote_nb`).

All three are `numba.extending.intrinsic`s (public API) whose code generation relies on numba's
data model for arrays (the `meminfo` and `parent` members) and on `numba.core.cgutils`, which
can change between numba releases. They are used on the numba versions they are tested on
(`cache.LOW_LEVEL_NUMBA`); elsewhere, or with `GRIDBT_KERNEL_PORTABLE=1`, the portable forms
below are used: same results (tests/unit/kernel/test_lowlevel.py,
tests/integration/test_kernel_portable.py), ~8x slower. The choice is part of the compiled
kernels' cache key.
"""

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from gridbt.kernel.cache import low_level_codegen, njit

__all__ = [
    "borrowed_fast_nb",
    "borrowed_nb",
    "borrowed_portable_nb",
    "prefetch_fast_nb",
    "prefetch_nb",
    "prefetch_portable_nb",
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


@intrinsic
def prefetch_fast_nb(typingctx, array, index):
    """Ask the CPU to start loading `array[index]` (`llvm.prefetch`: read, keep in all cache
    levels); a hint with no effect on results, valid for any index (a prefetch never faults)."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(array)(context, builder, value=args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        builder.call(prefetch, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen


@njit(nogil=True, inline="always")
def borrowed_portable_nb(arrays):
    """The arrays themselves (reference counted as usual)."""
    return arrays


@njit(nogil=True, inline="always")
def stack_record_portable_nb(dtype):
    """A zeroed record of `dtype`, the one element of a new array."""
    return np.zeros(1, dtype)[0]


@njit(nogil=True, inline="always")
def prefetch_portable_nb(array, index):
    """No hint."""


if low_level_codegen():
    borrowed_nb = borrowed_fast_nb
    stack_record_nb = stack_record_fast_nb
    prefetch_nb = prefetch_fast_nb
else:
    borrowed_nb = borrowed_portable_nb
    stack_record_nb = stack_record_portable_nb
    prefetch_nb = prefetch_portable_nb
