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

describe("formParams", () => {
  it("names the params field when the text is wrong", async () => {
    const { formParams } = await import("./params");
    const form = new FormData();
    form.set("params", "fast");
    expect(() => formParams(form)).toThrow(/not name=value/);
    try {
      formParams(form);
    } catch (error) {
      expect((error as { fieldMessage(f: string): string | undefined }).fieldMessage("params")).toMatch(/not name=value/);
    }
    form.set("params", "fast=5");
    expect(formParams(form)).toEqual({ fast: 5 });
  });
});
