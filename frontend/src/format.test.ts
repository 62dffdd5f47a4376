import { describe, expect, it } from "vitest";
import { ago, amount, dateTime, direction, money, percent, price, quoteOf } from "./format";

describe("money", () => {
  it("formats with currency, thousands and two decimals", () => {
    expect(money("1234.5", "USD")).toBe("$1,234.50");
    expect(money(1000000, "EUR")).toBe("€1,000,000.00");
  });
  it("signs changes", () => {
    expect(money("12.3", "USD", true)).toBe("+$12.30");
    expect(money(-3, "USD", true)).toBe("-$3.00");
    expect(money(0, "USD", true)).toBe("$0.00");
  });
  it("puts codes that are not ISO currencies after the number", () => {
    expect(money("5", "USDT")).toBe("5.00 USDT");
  });
  it("shows a dash for what is missing or not a number", () => {
    expect(money(null)).toBe("—");
    expect(money("abc")).toBe("—");
  });
});

describe("amounts and prices", () => {
  it("drops trailing zeros and keeps up to 8 decimals", () => {
    expect(amount("0.12345678900")).toBe("0.12345679");
    expect(amount("1500")).toBe("1,500");
  });
  it("gives small prices more digits", () => {
    expect(price(43210.123)).toBe("43,210.12");
    expect(price(0.000123456)).toBe("0.00012346");
  });
});

describe("percent and direction", () => {
  it("signs percentages", () => {
    expect(percent(0.0123)).toBe("+1.23%");
    expect(percent(-0.5)).toBe("-50.00%");
  });
  it("classifies changes", () => {
    expect(direction("-0.1")).toBe("down");
    expect(direction(2)).toBe("up");
    expect(direction("0")).toBe("flat");
  });
});

describe("times", () => {
  it("formats in UTC when asked", () => {
    expect(dateTime(Date.UTC(2026, 11, 1, 14, 5), true)).toBe("2026-12-01 14:05");
  });
  it("says how long ago", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(ago(now - 10_000, now)).toBe("just now");
    expect(ago(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(ago(null, now)).toBe("never");
  });
  it("finds the quote currency", () => {
    expect(quoteOf("BTC/USD")).toBe("USD");
    expect(quoteOf("ETH/USDT:USDT")).toBe("USDT");
  });
});
