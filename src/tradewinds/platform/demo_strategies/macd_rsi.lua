-- Trend following with a momentum filter; periods are assignment parameters.
local line, signal = ta.macd(param("fast", 12), param("slow", 26), param("signal", 9))
local rsi = ta.rsi(param("rsi", 14))
if crossover(line, signal) and rsi() < 70 then
  return "long"
elseif crossunder(line, signal) or rsi() > 80 then
  return "short"
end
-- otherwise keep the current position
