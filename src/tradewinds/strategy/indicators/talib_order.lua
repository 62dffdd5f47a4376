-- TA-Lib's loops, operation for operation, over FFI double arrays (JIT-compiled by LuaJIT).
--
-- Floating-point addition is not associative: two correct formulas for the same average differ
-- in the last bits, and then `sma() > ema()` can be true where TA-Lib says the two are equal.
-- These loops add, multiply and divide in TA-Lib's order: the SMA's and the EMA's values are bit
-- for bit TA-Lib's (ta_SMA.c, ta_EMA.c), and so are DEMA, TEMA and MACD built from them. Wilder's
-- average follows ta_ATR.c's formula but not yet its last bits. Arrays are 0-based; `out` is
-- written from the first defined index on and left alone before it.
local ffi = require("ffi")
local cast = ffi.cast

-- TA-Lib as shipped is compiled with floating-point contraction: each `a * b + c` of its C source
-- is one fused multiply-add, rounded once. libm's fma() is that operation exactly (in hardware
-- where the CPU has it, emulated exactly where not), so these loops call it at the same places.
ffi.cdef("double fma(double x, double y, double z);")
local fma = ffi.C.fma

local K = {}

local function doubles(address)
  return cast("double*", address)
end

-- A running total: add the newest value, read the mean, subtract the oldest.
function K.sma(x_addr, n, period, out_addr)
  local x, out = doubles(x_addr), doubles(out_addr)
  if n < period then return end
  local total = 0.0
  for i = 0, period - 2 do total = total + x[i] end
  local trailing = 0
  for i = period - 1, n - 1 do
    total = total + x[i]
    out[i] = total / period
    total = total - x[trailing]
    trailing = trailing + 1
  end
end

-- Seeded by the mean of x[start .. start + period - 1] (summed in order), then
-- ema = (x - ema) * k + ema.
function K.ema(x_addr, n, start, period, k, out_addr)
  local x, out = doubles(x_addr), doubles(out_addr)
  local first = start + period - 1
  if first >= n then return end
  local total = 0.0
  for i = start, first do total = total + x[i] end
  local prev = total / period
  out[first] = prev
  if period == 1 then -- k = 1: the values themselves, as TA-Lib gives
    for i = first + 1, n - 1 do out[i] = x[i] end
    return
  end
  for i = first + 1, n - 1 do
    prev = fma(x[i] - prev, k, prev)
    out[i] = prev
  end
end

-- Wilder's average of x[1 ..] (x[0] has no previous candle): the mean of the first `period`,
-- then avg = (avg * (period - 1) + x) / period.
function K.wilder(x_addr, n, period, out_addr)
  local x, out = doubles(x_addr), doubles(out_addr)
  if n <= period then return end
  local total = 0.0
  for i = 1, period do total = total + x[i] end
  local prev = total / period
  out[period] = prev
  for i = period + 1, n - 1 do
    prev = fma(prev, period - 1, x[i]) / period
    out[i] = prev
  end
end

return K
