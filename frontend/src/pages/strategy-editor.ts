// Writing a strategy: the editor, "check" with problems at their lines, saving (each save is a
// new version), the version history and a diff between two versions.
import { LitElement, css, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, api, type Page } from "../api";
import "../components/lua-editor";
import type { LuaEditor } from "../components/lua-editor";
import { errorNotice } from "../components/ui";
import { diffLines, diffSummary } from "../diff";
import { dateTime } from "../format";
import { navigate } from "../router";
import { theme } from "../styles";
import type { CheckResult, Strategy, StrategyVersion, Template } from "../types";

const BLANK = `-- Return "long" to hold the asset, "short" to hold cash, nothing to keep the position.
local fast = ta.sma(param("fast", 10))
local slow = ta.sma(param("slow", 30))
if crossover(fast, slow) then
  return "long"
elseif crossunder(fast, slow) then
  return "short"
end
`;

@customElement("tw-strategy-editor")
export class StrategyEditor extends LitElement {
  static styles = [
    theme,
    css`
      .layout { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 16px; align-items: start; }
      tw-lua-editor { height: 460px; }
      .problems { margin-top: 12px; display: grid; gap: 6px; }
      .problem { font-family: var(--mono); font-size: 12.5px; padding: 8px 10px; border-radius: 8px; background: #2a1220; border: 1px solid #5b2334; color: #fecdd3; cursor: pointer; text-align: left; }
      .problem.warning { background: #2a1f0b; border-color: #5c4311; color: #fde68a; }
      .ok { color: var(--up); }
      .versions button { width: 100%; justify-content: space-between; margin-bottom: 6px; }
      .versions button[aria-pressed="true"] { border-color: var(--accent); }
      .diff { font-family: var(--mono); font-size: 12.5px; background: #0d1628; border: 1px solid var(--line); border-radius: 8px; overflow: auto; max-height: 360px; }
      .diff div { white-space: pre; padding: 0 10px; }
      .diff .added { background: #0f2a1d; color: #86efac; }
      .diff .removed { background: #2a1220; color: #fda4af; }
      .diff .n { display: inline-block; width: 3.5em; color: var(--faint); }
      @media (max-width: 980px) { .layout { grid-template-columns: 1fr; } }
    `,
  ];

  @property({ type: Number }) strategyId = 0;
  @property() template = "";
  @state() private strategy: Strategy | null = null;
  @state() private versions: StrategyVersion[] = [];
  @state() private source = "";
  @state() private name = "";
  @state() private check: CheckResult | null = null;
  @state() private error: unknown = null;
  @state() private saved = "";
  @state() private busy = false;
  @state() private compare: [number, number] | null = null;

  // Loaded once the element's properties are set (a lazily defined element gets them late).
  firstUpdated(): void {
    void this.load();
  }


  private get editor(): LuaEditor | null {
    return this.renderRoot.querySelector("tw-lua-editor");
  }

  private async load(): Promise<void> {
    try {
      if (this.strategyId) {
        const [strategy, versions] = await Promise.all([
          api.get<Strategy>(`/api/strategies/${this.strategyId}`),
          api.get<Page<StrategyVersion>>(`/api/strategies/${this.strategyId}/versions`, { limit: 500 }),
        ]);
        this.strategy = strategy;
        this.versions = versions.items;
        this.source = versions.items[0]?.source ?? "";
        this.name = strategy.name;
      } else {
        const templates = await api.get<Template[]>("/api/strategy-templates");
        const chosen = templates.find((t) => t.id === this.template);
        this.source = chosen?.source ?? BLANK;
        this.name = chosen ? chosen.name : "";
      }
    } catch (error) {
      this.error = error;
    }
  }

  private async runCheck(): Promise<CheckResult | null> {
    this.busy = true;
    try {
      const result = await api.post<CheckResult>("/api/strategies/check", { source: this.source });
      this.check = result;
      this.editor?.showProblems(result.errors, result.warnings);
      return result;
    } catch (error) {
      this.error = error;
      return null;
    } finally {
      this.busy = false;
    }
  }

  private async save(): Promise<void> {
    this.error = null;
    this.saved = "";
    this.busy = true;
    try {
      if (this.strategyId) {
        const version = await api.post<StrategyVersion>(`/api/strategies/${this.strategyId}/versions`, { source: this.source });
        this.saved = version.number === this.versions[0]?.number ? "No changes since the latest version." : `Saved as version ${version.number}.`;
        await this.load();
      } else {
        const version = await api.post<StrategyVersion>("/api/strategies", { name: this.name, source: this.source });
        navigate(`/strategies/${version.strategy_id}`, true);
      }
    } catch (error) {
      this.error = error;
      if (error instanceof ApiError && error.fieldMessage("source")) {
        const match = /^line (\d+): (.*)$/s.exec(error.fieldMessage("source")!);
        this.editor?.showProblems([{ line: match ? Number(match[1]) : null, message: match ? match[2]! : error.message }]);
      }
    } finally {
      this.busy = false;
    }
  }

  private renderCheck() {
    if (!this.check) return html`<p class="muted">Check compiles the strategy and runs it on sample candles, reporting problems at their lines.</p>`;
    const { errors, warnings } = this.check;
    return html`<div class="problems" aria-live="polite">
      ${errors.length === 0 && warnings.length === 0 ? html`<div class="ok" data-testid="check-ok">✓ No problems: it compiles and runs on sample candles.</div>` : ""}
      ${[...errors.map((p) => ({ ...p, kind: "error" })), ...warnings.map((p) => ({ ...p, kind: "warning" }))].map(
        (p) => html`<button class="problem ${p.kind}" data-testid="problem" @click=${() => this.editor?.showProblems([p])}>${p.line ? `Line ${p.line}: ` : ""}${p.message}</button>`,
      )}
    </div>`;
  }

  private renderDiff() {
    if (!this.compare) return "";
    const [older, newer] = this.compare.map((n) => this.versions.find((v) => v.number === n));
    if (!older || !newer) return "";
    const lines = diffLines(older.source, newer.source);
    const { added, removed } = diffSummary(lines);
    return html`<section class="panel" style="margin-top:16px">
      <div class="page-head" style="margin-bottom:8px">
        <h2 style="margin:0">Version ${older.number} → ${newer.number} <span class="muted">(+${added} −${removed})</span></h2>
        <label style="flex-direction:row;display:flex;align-items:center;gap:8px">Compare with
          <select aria-label="Compare with version" @change=${(e: Event) => (this.compare = [Number((e.target as HTMLSelectElement).value), newer.number])}>
            ${this.versions.filter((v) => v.number !== newer.number).map((v) => html`<option value=${v.number} ?selected=${v.number === older.number}>v${v.number}</option>`)}
          </select></label>
      </div>
      <div class="diff">${lines.map((l) => html`<div class=${l.kind}><span class="n">${l.newNumber ?? l.oldNumber}</span>${l.kind === "added" ? "+ " : l.kind === "removed" ? "− " : "  "}${l.text}</div>`)}</div>
    </section>`;
  }

  render() {
    const fieldMessage = this.error instanceof ApiError ? this.error.fieldMessage("name") : undefined;
    return html`
      <div class="page-head">
        <div>
          <h1>${this.strategy ? this.strategy.name : "New strategy"}</h1>
          <p>${this.strategy ? `Version ${this.versions[0]?.number ?? "…"} · every save is a new version` : "Name it, write it, check it, save it."}</p>
        </div>
        <div class="actions">
          ${this.strategyId ? html`<a class="button" href="/backtests?strategy=${this.strategyId}">Backtest</a><a class="button" href="/assignments?new=1&strategy=${this.strategyId}">Assign</a>` : ""}
          <button @click=${() => void this.runCheck()} ?disabled=${this.busy}>Check</button>
          <button class="primary" @click=${() => void this.save()} ?disabled=${this.busy || (!this.strategyId && !this.name.trim())}>Save</button>
        </div>
      </div>
      ${this.strategyId ? "" : html`<label style="max-width:420px;margin-bottom:12px">Name
        <input .value=${this.name} @input=${(e: Event) => (this.name = (e.target as HTMLInputElement).value)} aria-invalid=${fieldMessage ? "true" : "false"} placeholder="e.g. SMA crossover" />
        ${fieldMessage ? html`<span class="field-error">${fieldMessage}</span>` : ""}</label>`}
      ${this.error && !(this.error instanceof ApiError && (this.error.fieldMessage("name") || this.error.fieldMessage("source"))) ? errorNotice(this.error) : ""}
      ${this.saved ? html`<div class="notice" role="status" style="margin-bottom:12px">${this.saved}</div>` : ""}
      <div class="layout">
        <div>
          <tw-lua-editor .value=${this.source} @change=${(e: CustomEvent<string>) => { this.source = e.detail; this.check = null; }}></tw-lua-editor>
          ${this.error instanceof ApiError && this.error.fieldMessage("source") ? html`<div class="problems"><div class="problem" role="alert">${this.error.fieldMessage("source")}</div></div>` : this.renderCheck()}
        </div>
        <aside class="panel versions">
          <h2>Versions</h2>
          ${this.versions.length === 0 ? html`<p class="muted">Saved versions appear here.</p>` : ""}
          ${this.versions.map((v, i) => html`<button aria-pressed=${this.compare?.[1] === v.number ? "true" : "false"}
              @click=${() => { this.source = v.source; this.compare = i + 1 < this.versions.length ? [this.versions[i + 1]!.number, v.number] : null; }}>
              <span>v${v.number}</span><span class="muted">${dateTime(v.created_ms)}</span></button>`)}
          ${this.versions.length > 1 ? html`<p class="muted">Pick a version to load it and see what changed from the one before.</p>` : ""}
        </aside>
      </div>
      ${this.renderDiff()}
    `;
  }
}
