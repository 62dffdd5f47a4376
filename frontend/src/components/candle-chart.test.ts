import { describe, expect, it } from "vitest";
import { markersFor } from "./candle-chart";
import type { CandleRow } from "../types";

const HOUR = 3_600_000;
const candles: CandleRow[] = [0, 1, 2, 3].map((i) => [i * HOUR, 1, 2, 0.5, 1.5, 10]);

describe("markersFor", () => {
  it("puts a fill on the candle that holds it, buys below and sells above", () => {
    const markers = markersFor([{ time_ms: HOUR + 60_000, side: "buy" }, { time_ms: 3 * HOUR, side: "sell" }], candles);
    expect(markers.map((m) => [m.time, m.position, m.text])).toEqual([[3600, "belowBar", "Buy"], [10800, "aboveBar", "Sell"]]);
  });
  it("leaves out fills outside the candles shown", () => {
    expect(markersFor([{ time_ms: -HOUR, side: "buy" }, { time_ms: 9 * HOUR, side: "sell" }], candles)).toEqual([]);
  });
  it("drops the words when there are many trades", () => {
    const many = Array.from({ length: 80 }, (_, i) => ({ time_ms: (i % 4) * HOUR, side: "buy" as const }));
    expect(markersFor(many, candles).every((m) => m.text === "")).toBe(true);
  });
});
