import { describe, expect, it } from "vitest";
import { marketPath, match } from "./router";

describe("routes", () => {
  it("matches pages with their ids", () => {
    expect(match("/").name).toBe("dashboard");
    expect(match("/strategies/12")).toMatchObject({ name: "strategy", params: { id: "12" } });
    expect(match("/assignments/3/").name).toBe("assignment");
    expect(match("/nope").name).toBe("not-found");
  });
  it("round-trips a market's symbol, slash included", () => {
    const path = marketPath("sim", "ALPHA/USD");
    expect(path).toBe("/markets/sim/ALPHA/USD");
    expect(match(path).params).toEqual({ exchange: "sim", base: "ALPHA", quote: "USD" });
  });
  it("keeps the query", () => {
    expect(match("/backtests", "?strategy=4").query.get("strategy")).toBe("4");
  });
});
