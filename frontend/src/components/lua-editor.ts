// The strategy editor: CodeMirror 6 with Lua highlighting, line numbers, Lua-aware indentation,
// and the problems `check` found shown at their lines.
import { LitElement, css, html } from "lit";
import { customElement, property } from "lit/decorators.js";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { StreamLanguage, bracketMatching, indentOnInput, syntaxHighlighting, HighlightStyle } from "@codemirror/language";
import { lua } from "@codemirror/legacy-modes/mode/lua";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";
import { tags } from "@lezer/highlight";
import type { Problem } from "../types";

const highlight = HighlightStyle.define([
  { tag: tags.keyword, color: "#c084fc" },
  { tag: [tags.string, tags.special(tags.string)], color: "#86efac" },
  { tag: tags.number, color: "#fbbf24" },
  { tag: tags.comment, color: "#64748b", fontStyle: "italic" },
  { tag: [tags.variableName, tags.name], color: "#e2e8f0" },
  { tag: [tags.standard(tags.variableName), tags.function(tags.variableName)], color: "#7dd3fc" },
  { tag: tags.operator, color: "#94a3b8" },
  { tag: tags.bool, color: "#fb7185" },
]);

const theme = EditorView.theme(
  {
    "&": { backgroundColor: "#0d1628", color: "#e2e8f0", fontSize: "13.5px", height: "100%" },
    ".cm-content": { fontFamily: 'ui-monospace, "JetBrains Mono", Menlo, Consolas, monospace', caretColor: "#38bdf8" },
    ".cm-gutters": { backgroundColor: "#0b1220", color: "#4b5e80", border: "none", borderRight: "1px solid #1a2644" },
    ".cm-activeLine": { backgroundColor: "#111c33" },
    ".cm-activeLineGutter": { backgroundColor: "#111c33", color: "#8da2c0" },
    "&.cm-focused": { outline: "none" },
    ".cm-selectionBackground, &.cm-focused .cm-selectionBackground": { backgroundColor: "#1e3a5f !important" },
    ".cm-scroller": { overflow: "auto" },
    ".cm-lintRange-error": { backgroundImage: "none", textDecoration: "underline wavy #f43f5e" },
    ".cm-tooltip": { backgroundColor: "#16213a", border: "1px solid #223052", color: "#e2e8f0" },
  },
  { dark: true },
);

/** Diagnostics for problems at lines (a problem without a line marks the first line). */
export function diagnosticsFor(doc: EditorState["doc"], problems: Problem[], severity: "error" | "warning"): Diagnostic[] {
  return problems.map((problem) => {
    const number = Math.min(Math.max(problem.line ?? 1, 1), doc.lines);
    const line = doc.line(number);
    return { from: line.from, to: Math.max(line.to, line.from), severity, message: problem.message };
  });
}

@customElement("tw-lua-editor")
export class LuaEditor extends LitElement {
  static styles = css`
    :host { display: block; border: 1px solid #223052; border-radius: 10px; overflow: hidden; min-height: 320px; }
    .host { height: 100%; min-height: inherit; }
  `;

  @property() value = "";
  @property({ type: Boolean }) readonly = false;

  private view?: EditorView;

  render() {
    return html`<div class="host"></div>`;
  }

  firstUpdated(): void {
    this.view = new EditorView({
      parent: this.renderRoot.querySelector(".host") as HTMLElement,
      root: this.renderRoot as ShadowRoot,
      state: this.makeState(this.value),
    });
  }

  private makeState(doc: string): EditorState {
    return EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        StreamLanguage.define(lua),
        syntaxHighlighting(highlight),
        lintGutter(),
        theme,
        EditorState.tabSize.of(2),
        EditorState.readOnly.of(this.readonly),
        EditorView.contentAttributes.of({ "aria-label": "Strategy source (Lua)" }),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) {
            this.value = update.state.doc.toString();
            this.dispatchEvent(new CustomEvent("change", { detail: this.value }));
          }
        }),
      ],
    });
  }

  updated(changed: Map<string, unknown>): void {
    if (this.view && changed.has("value") && this.value !== this.view.state.doc.toString()) {
      this.view.setState(this.makeState(this.value));
    }
  }

  /** Show `errors` and `warnings` at their lines (an empty list clears them). */
  showProblems(errors: Problem[], warnings: Problem[] = []): void {
    if (!this.view) return;
    const doc = this.view.state.doc;
    this.view.dispatch(setDiagnostics(this.view.state, [...diagnosticsFor(doc, errors, "error"), ...diagnosticsFor(doc, warnings, "warning")]));
    const first = errors[0] ?? warnings[0];
    if (first?.line) {
      const line = doc.line(Math.min(Math.max(first.line, 1), doc.lines));
      this.view.dispatch({ selection: { anchor: line.from }, scrollIntoView: true });
    }
  }

  focus(): void {
    this.view?.focus();
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tw-lua-editor": LuaEditor;
  }
}
