-- Fast EMA crossing a slow EMA; periods are assignment parameters.
local fast = ta.ema(param("fast", 9))
local slow = ta.ema(param("slow", 21))
if crossover(fast, slow) then
  return "long"
elseif crossunder(fast, slow) then
  return "short"
end
-- otherwise keep the current position
