import { describe, expect, it } from "vitest";
import { formatParams, parseParams } from "./params";

describe("params", () => {
  it("parses numbers, booleans and text", () => {
    expect(parseParams("fast=5, slow = 20.5\nuse=true, mode=close")).toEqual({ fast: 5, slow: 20.5, use: true, mode: "close" });
  });
  it("refuses what is not name=value", () => {
    expect(() => parseParams("fast")).toThrow(/not name=value/);
    expect(() => parseParams("1x=3")).toThrow(/not a parameter name/);
  });
  it("round-trips", () => {
    expect(formatParams(parseParams("a=1, b=x"))).toBe("a=1, b=x");
  });
});
