-- Bollinger breakout: buy a close above the upper band, sell a close below the middle line.
local upper, middle, lower = ta.bollinger(param("period", 20), param("deviations", 2))
if close() > upper() then
  return "long"
elseif close() < middle() then
  return "short"
end
