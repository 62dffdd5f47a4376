-- MACD trend following: hold while the MACD line is above its signal line.
local line, signal = ta.macd(param("fast", 12), param("slow", 26), param("signal", 9))
if crossover(line, signal) then
  return "long"
elseif crossunder(line, signal) then
  return "short"
end
