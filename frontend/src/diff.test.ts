import { describe, expect, it } from "vitest";
import { diffLines, diffSummary } from "./diff";

describe("diffLines", () => {
  it("marks a changed line as removed then added, keeping the rest", () => {
    const lines = diffLines("local a = ta.sma(10)\nreturn 'long'", "local a = ta.sma(20)\nreturn 'long'");
    expect(lines.map((l) => l.kind)).toEqual(["removed", "added", "same"]);
    expect(lines[2]).toMatchObject({ oldNumber: 2, newNumber: 2 });
    expect(diffSummary(lines)).toEqual({ added: 1, removed: 1 });
  });
  it("handles insertions at the ends", () => {
    const lines = diffLines("b", "a\nb\nc");
    expect(lines.map((l) => `${l.kind}:${l.text}`)).toEqual(["added:a", "same:b", "added:c"]);
  });
  it("sees identical texts as the same", () => {
    expect(diffSummary(diffLines("x\ny", "x\ny"))).toEqual({ added: 0, removed: 0 });
  });
});
