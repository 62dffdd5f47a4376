// Line diff between two versions of a strategy (longest common subsequence), for the history
// view. Strategies are short, so the quadratic table is fine (bounded below for safety).

export interface DiffLine {
  kind: "same" | "added" | "removed";
  text: string;
  oldNumber: number | null;
  newNumber: number | null;
}

const MAX_CELLS = 4_000_000;

export function diffLines(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length * b.length > MAX_CELLS) {
    return [
      ...a.map((text, i) => ({ kind: "removed" as const, text, oldNumber: i + 1, newNumber: null })),
      ...b.map((text, i) => ({ kind: "added" as const, text, oldNumber: null, newNumber: i + 1 })),
    ];
  }
  const width = b.length + 1;
  const table = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * width + j] = a[i] === b[j] ? table[(i + 1) * width + j + 1]! + 1 : Math.max(table[(i + 1) * width + j]!, table[i * width + j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: "same", text: a[i]!, oldNumber: i + 1, newNumber: j + 1 });
      i++;
      j++;
    } else if (table[(i + 1) * width + j]! >= table[i * width + j + 1]!) {
      out.push({ kind: "removed", text: a[i]!, oldNumber: i + 1, newNumber: null });
      i++;
    } else {
      out.push({ kind: "added", text: b[j]!, oldNumber: null, newNumber: j + 1 });
      j++;
    }
  }
  for (; i < a.length; i++) out.push({ kind: "removed", text: a[i]!, oldNumber: i + 1, newNumber: null });
  for (; j < b.length; j++) out.push({ kind: "added", text: b[j]!, oldNumber: null, newNumber: j + 1 });
  return out;
}

export function diffSummary(lines: DiffLine[]): { added: number; removed: number } {
  return {
    added: lines.filter((l) => l.kind === "added").length,
    removed: lines.filter((l) => l.kind === "removed").length,
  };
}
