-- RSI mean reversion: buy when the market is oversold, sell when it is overbought.
local rsi = ta.rsi(param("period", 14))
if rsi() < param("oversold", 30) then
  return "long"
elseif rsi() > param("overbought", 70) then
  return "short"
end
-- between the bands: keep the current position
