-- Buy a close above the last 20 candles' high; log every candle (a backtest keeps 200 lines).
log("close", close(), "position", position())
if position() == "short" and close() > ta.highest(20)(1) then
  return "long"
end
