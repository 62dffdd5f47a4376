// The user's strategies, and templates to start a new one from.
import { LitElement, css, html } from "lit";
import { customElement, state } from "lit/decorators.js";
import { api, type Page } from "../api";
import { empty, errorNotice, loading } from "../components/ui";
import { ago } from "../format";
import { theme } from "../styles";
import type { Strategy, Template } from "../types";

@customElement("tw-strategies-page")
export class StrategiesPage extends LitElement {
  static styles = [
    theme,
    css`
      .templates { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); }
      .template { display: block; color: inherit; }
      .template:hover { border-color: #34467a; text-decoration: none; }
      .template strong { display: block; margin-bottom: 4px; }
    `,
  ];

  @state() private strategies: Strategy[] | null = null;
  @state() private templates: Template[] = [];
  @state() private error: unknown = null;

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const [list, templates] = await Promise.all([api.get<Page<Strategy>>("/api/strategies", { limit: 500 }), api.get<Template[]>("/api/strategy-templates")]);
      this.strategies = list.items;
      this.templates = templates;
    } catch (error) {
      this.error = error;
    }
  }

  render() {
    if (this.error) return errorNotice(this.error, () => void this.load());
    return html`
      <div class="page-head">
        <div><h1>Strategies</h1><p>Lua programs that decide, at each closed candle, to hold the asset or cash.</p></div>
        <a class="button primary" href="/strategies/new">New strategy</a>
      </div>
      <section class="panel" style="margin-bottom:16px">
        ${this.strategies === null
          ? loading()
          : this.strategies.length === 0
            ? empty("No strategies yet", "Start from a template below, or write your own.")
            : html`<table><thead><tr><th>Name</th><th class="num">Versions</th><th>Last saved</th><th></th></tr></thead><tbody>
                ${this.strategies.map((s) => html`<tr>
                  <td><a href="/strategies/${s.id}">${s.name}</a></td>
                  <td class="num">${s.latest_version}</td>
                  <td>${ago(s.updated_ms)}</td>
                  <td class="num"><a href="/backtests?strategy=${s.id}">Backtest</a></td>
                </tr>`)}</tbody></table>`}
      </section>
      <h3>Start from a template</h3>
      <div class="templates">
        ${this.templates.map((t) => html`<a class="card template" href="/strategies/new?template=${t.id}"><strong>${t.name}</strong><span class="muted">${t.description}</span></a>`)}
      </div>
    `;
  }
}
