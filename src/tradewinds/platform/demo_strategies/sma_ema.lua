// Simple moving average
local sma = ta.sma(10)
// Exponential moving average
local ema = ta.ema(10)
// Short term > long term
if sma() > ema() then
  return "short"
else
  return "long"
end
