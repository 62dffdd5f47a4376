"""Statistics over every sliding window of a series, vectorised and exact to rounding.

Each function returns an array of the input's length holding, at index i, the statistic of the
window that ends at i; NaN before the first full window (index period - 1).

Long series rule out running sums (add the new value, subtract the old): their rounding error
grows with the series. Here each window is summed from at most two blocks of `period` values,
so the error stays that of summing `period` numbers, however long the series.

Memory the process has not touched yet costs more than the arithmetic (page faults on every
fresh array of a year of minutes), hence the in-place operations and reused buffers.
"""

from __future__ import annotations

import numpy as np

from tradewinds.strategy.indicators.series import undefined
from tradewinds.strategy.indicators.spec import FloatArray

# Up to this period a direct convolution is faster than the block sums, and just as exact.
_DIRECT_PERIOD = 32
# Up to this period, Welford's update row by row beats running sums along each block.
_ROW_LOOP_PERIOD = 256
# Windows per chunk in the O(n * period) loop: a chunk's temporaries stay in the CPU cache.
_CHUNK = 32768


def window_sums(values: FloatArray, period: int) -> FloatArray:
    n = len(values)
    if n < period:
        return undefined(n)
    if period <= _DIRECT_PERIOD:
        out = np.convolve(values, np.ones(period))[:n]
    else:
        out = _block_heads(values, period)
        tails = _block_tails(values, period)
        tails[::period] = 0.0  # a window starting on a block boundary is that block: its head
        out[period - 1 :] += tails[: n - period + 1]
    out[: period - 1] = np.nan
    return out


def window_weighted_sums(values: FloatArray, period: int) -> FloatArray:
    """Sums with weights 1, 2, ..., period from the oldest value to the newest (WMA's numerator)."""
    n = len(values)
    if n < period:
        return undefined(n)
    if period <= _DIRECT_PERIOD:
        out = np.convolve(values, np.arange(period, 0, -1, dtype=np.float64))[:n]
        out[: period - 1] = np.nan
        return out
    # A window ending at i is the tail of one block (from its start s) and the head of the next.
    # Head values weigh (their place in the block) + (period - i's place); tail values weigh
    # (their place) + 1 - (s's place). Each part is a block-local sum: nothing large cancels.
    place = np.resize(np.arange(period, dtype=np.float64), n)
    scratch = values * place
    out = _block_heads(scratch, period)
    heads = _block_heads(values, period)
    np.subtract(period, place, out=scratch)
    heads *= scratch
    out += heads
    del heads
    np.add(place, 1.0, out=scratch)
    scratch *= values
    tail_part = _block_tails(scratch, period)
    tails = _block_tails(values, period)
    tails *= place
    tail_part -= tails
    tail_part[::period] = 0.0  # a window starting on a block boundary has no tail
    out[period - 1 :] += tail_part[: n - period + 1]
    out[: period - 1] = np.nan
    return out


def window_highs(values: FloatArray, period: int) -> FloatArray:
    return _window_extremes(values, period, np.maximum)


def window_lows(values: FloatArray, period: int) -> FloatArray:
    return _window_extremes(values, period, np.minimum)


def _window_extremes(values: FloatArray, period: int, pick: np.ufunc) -> FloatArray:
    """Max or min per window by doubling: about log2(period) vector passes, exact."""
    n = len(values)
    out = undefined(n)
    if n < period:
        return out
    count = n - period + 1
    span, best = 1, values
    while 2 * span <= period:
        # best[j] is the extreme of values[j : j + span]; combine two neighbouring spans.
        best = pick(best[:-span], best[span:])
        span *= 2
    # Two overlapping spans cover a window: its first `span` values and its last `span`.
    pick(best[:count], best[period - span : period - span + count], out=out[period - 1 :])
    return out


def window_square_deviations(values: FloatArray, period: int) -> FloatArray:
    """Sum of squared deviations from the window's mean (population variance * period).

    A window is the tail of one block of `period` values and the head of the next; each part
    is summarised by its count, mean and squared deviations, and Chan's formula joins them
    with only non-negative terms. Parts are measured from a value of their own block, so the
    spread, not the price level, bounds the rounding: a flat window gives exactly 0 and a tiny
    spread on a large price keeps its precision. Nothing grows along the series.
    """
    n = len(values)
    if n < period:
        return undefined(n)
    if period == 1:
        return np.zeros(n)
    if period <= _ROW_LOOP_PERIOD:
        return _square_deviations_by_rows(values, period)
    return _square_deviations_by_sums(values, period)


def _square_deviations_by_rows(values: FloatArray, period: int) -> FloatArray:
    """Welford's update down the rows of the blocks, vectorised across blocks.

    Fast while there are few rows; every block is measured from its first value.
    """
    n = len(values)
    blocks = -(-n // period)
    rows = np.empty((period, blocks))  # rows[j, k]: the j-th value of block k
    grid = rows.T
    cut = n - n % period
    grid[: cut // period] = values[:cut].reshape(-1, period)
    if cut < n:
        grid[-1, : n - cut] = values[cut:]
        grid[-1, n - cut :] = values[-1]
    base = grid[:, 0].copy()
    rows -= base
    step = base[1:] - base[:-1]
    # Reversed row order: tail_*[r] covers rows period-1-r .. period-1 of each block.
    tail_mean, tail_m2 = _running_moments(rows[::-1])

    out = np.full(blocks * period, np.nan)  # windows that would start before the series stay NaN
    by_row = out.reshape(blocks, period).T  # by_row[j, k]: the window ending at row j of block k
    mean = rows[0].copy()
    m2 = np.zeros(blocks)
    delta = np.empty(blocks)
    gap = np.empty(blocks - 1)
    for j in range(period - 1):
        if j:
            _welford_step(rows[j], j + 1, mean, m2, delta)
        # The head of block k up to row j joins the tail of block k-1 from row j+1.
        r = period - 2 - j
        np.subtract(mean[1:], tail_mean[r, :-1], out=gap)
        gap += step
        gap *= gap
        gap *= (j + 1) * (period - 1 - j) / period
        gap += tail_m2[r, :-1]
        np.add(gap, m2[1:], out=by_row[j, 1:])
    _welford_step(rows[-1], period, mean, m2, delta)
    by_row[-1] = m2  # the window is the whole block
    return out[:n]


def _running_moments(rows: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Welford's running mean and sum of squared deviations down the rows, for every column."""
    means = np.empty_like(rows)
    m2 = np.empty_like(rows)
    means[0] = rows[0]
    m2[0] = 0.0
    delta = np.empty(rows.shape[1])
    for j in range(1, len(rows)):
        means[j] = means[j - 1]
        m2[j] = m2[j - 1]
        _welford_step(rows[j], j + 1, means[j], m2[j], delta)
    return means, m2


def _welford_step(value: FloatArray, count: int, mean: FloatArray, m2: FloatArray, delta: FloatArray) -> None:
    """Add `value` as the count-th observation to the running `mean` and `m2`, in place."""
    np.subtract(value, mean, out=delta)
    mean += delta / count
    delta *= value - mean
    m2 += delta


def _square_deviations_by_sums(values: FloatArray, period: int) -> FloatArray:
    """Running sums of offsets and their squares along each block: no loop over rows.

    Heads are measured from the block's first value and tails from its last, values of the
    part itself, so sum(d^2) - sum(d)^2 / count loses at most ~count ulps of the part's spread.
    """
    n = len(values)
    grid = _blocks(values, period, fill=float(values[-1]))
    first, last = grid[:, :1].copy(), grid[:, -1:].copy()
    head_count = np.arange(1.0, period + 1.0)
    tail_count = head_count[::-1].copy()  # values from each row to the end of its block

    offset = grid - first
    head_mean = np.cumsum(offset, axis=1)
    offset *= offset
    head_m2 = np.cumsum(offset, axis=1)
    np.subtract(grid, last, out=offset)
    del grid
    tail_mean = np.empty_like(offset)
    np.cumsum(offset[:, ::-1], axis=1, out=tail_mean[:, ::-1])
    offset *= offset
    tail_m2 = np.empty_like(offset)
    np.cumsum(offset[:, ::-1], axis=1, out=tail_m2[:, ::-1])
    for total, squares, count in ((head_mean, head_m2, head_count), (tail_mean, tail_m2, tail_count)):
        total /= count  # the sum becomes the mean
        np.multiply(total, total, out=offset)
        offset *= count
        squares -= offset  # sum(d^2) - count * mean^2
        np.maximum(squares, 0.0, out=squares)  # a rounding residue must not turn negative
    del offset

    # The window ending at row j < period-1 of block k: head of block k up to row j, tail of
    # block k-1 from row j+1. Row period-1 is a whole block: its head alone.
    gap = head_mean[1:, :-1] - tail_mean[:-1, 1:]
    gap += first[1:] - last[:-1]
    gap *= gap
    gap *= head_count[:-1] * tail_count[1:] / period
    gap += tail_m2[:-1, 1:]
    merged = head_m2  # each head is read only where its window's result is written
    merged[1:, :-1] += gap
    merged[0, :-1] = np.nan  # those windows would start before the series
    return merged.ravel()[:n]


def window_abs_deviations(values: FloatArray, centers: FloatArray, period: int) -> FloatArray:
    """Sum over each window of |value - centers[i]| for the window ending at i: O(n * period)."""
    n = len(values)
    out = undefined(n)
    if n < period:
        return out
    first = period - 1
    out[first:] = 0.0
    scratch = np.empty(min(_CHUNK, n - first))
    for start in range(first, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        center, total, step = centers[start:stop], out[start:stop], scratch[: stop - start]
        for offset in range(period):
            np.subtract(values[start - offset : stop - offset], center, out=step)
            np.abs(step, out=step)
            total += step
    return out


def _block_heads(values: FloatArray, period: int) -> FloatArray:
    """Sum from the start of each value's block of `period` values up to the value."""
    out = np.empty(len(values))
    cut = len(values) - len(values) % period
    if cut:
        np.cumsum(values[:cut].reshape(-1, period), axis=1, out=out[:cut].reshape(-1, period))
    np.cumsum(values[cut:], out=out[cut:])
    return out


def _blocks(values: FloatArray, period: int, fill: float) -> FloatArray:
    """The series cut into rows of `period` values, the last row padded with `fill`."""
    rows = -(-len(values) // period)
    blocks = np.full(rows * period, fill)
    blocks[: len(values)] = values
    return blocks.reshape(rows, period)


def _block_tails(values: FloatArray, period: int) -> FloatArray:
    """Sum from each value to the end of its block of `period` values."""
    out = np.empty(len(values))
    cut = len(values) - len(values) % period
    if cut:
        grid = values[:cut].reshape(-1, period)[:, ::-1]
        np.cumsum(grid, axis=1, out=out[:cut].reshape(-1, period)[:, ::-1])
    np.cumsum(values[cut:][::-1], out=out[cut:][::-1])
    return out
