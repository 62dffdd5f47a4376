// Backtests: a form to run one (stored candles of a market, or an uploaded CSV) and the list.
import { LitElement, css, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, CSRF_COOKIE, CSRF_HEADER, api, errorFrom, readCookie, type Page, everyItem, versionsOf } from "../api";
import { empty, errorNotice, fieldError, invalid, loading, statusBadge } from "../components/ui";
import { ago, percent } from "../format";
import { formParams } from "../params";
import { navigate } from "../router";
import { theme } from "../styles";
import type { Backtest, Market, Strategy, StrategyVersion } from "../types";

const TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d"];

function dayMs(value: string, endOfDay = false): number | null {
  if (!value) return null;
  const ms = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(ms) ? null : endOfDay ? ms + 86_400_000 - 1 : ms;
}

@customElement("tw-backtests-page")
export class BacktestsPage extends LitElement {
  static styles = [theme, css`.source-switch { display: flex; gap: 8px; } .source-switch button[aria-pressed="true"] { border-color: var(--accent); color: var(--text); }`];

  @property({ attribute: false }) query = new URLSearchParams();
  @state() private backtests: Backtest[] | null = null;
  @state() private strategies: Strategy[] = [];
  @state() private versions: StrategyVersion[] = [];
  @state() private markets: Market[] = [];
  @state() private strategyId = 0;
  @state() private fromFile = false;
  @state() private error: unknown = null;
  @state() private busy = false;
  private timer?: ReturnType<typeof setInterval>;

  connectedCallback(): void {
    super.connectedCallback();
    this.timer = setInterval(() => void this.refresh(), 2000);
  }

  // Loaded once the element's properties are set (a lazily defined element gets them late).
  firstUpdated(): void {
    void this.load();
  }


  disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.timer);
  }

  private async load(): Promise<void> {
    try {
      const [strategies, markets] = await Promise.all([
        api.get<Page<Strategy>>("/api/strategies", { limit: 500 }),
        everyItem<Market>("/api/markets"),
      ]);
      this.strategies = strategies.items;
      this.markets = markets.filter((m) => m.timeframes.length > 0); // a backtest needs candles
      this.fromFile = this.markets.length === 0;
      const wanted = Number(this.query.get("strategy") ?? 0);
      await this.pickStrategy(strategies.items.find((s) => s.id === wanted)?.id ?? strategies.items[0]?.id ?? 0);
      await this.refresh();
    } catch (error) {
      this.error = error;
    }
  }

  private async refresh(): Promise<void> {
    try {
      this.backtests = (await api.get<Page<Backtest>>("/api/backtests", { limit: 50 })).items;
    } catch {
      /* the list keeps what it showed; the next poll tries again */
    }
  }

  private async pickStrategy(id: number): Promise<void> {
    this.strategyId = id;
    this.versions = await versionsOf(id);
  }

  private async submit(event: Event): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    this.error = null;
    this.busy = true;
    try {
      const params = formParams(form);
      let created: Backtest;
      if (this.fromFile) {
        const upload = new FormData();
        for (const key of ["version_id", "timeframe", "cash", "fee"]) upload.set(key, String(form.get(key)));
        upload.set("params", JSON.stringify(params));
        const file = form.get("file");
        if (!(file instanceof File) || file.size === 0) throw new ApiError(422, "choose a candle CSV file", [{ field: "file", message: "choose a candle CSV file" }]);
        upload.set("file", file);
        const response = await fetch("/api/backtests/upload", { method: "POST", body: upload, headers: { [CSRF_HEADER]: readCookie(CSRF_COOKIE) ?? "" } });
        const body = await response.json();
        if (!response.ok) throw errorFrom(response.status, body);
        created = body as Backtest;
      } else {
        const [exchange, symbol] = String(form.get("market")).split(" ");
        created = await api.post<Backtest>("/api/backtests", {
          version_id: Number(form.get("version_id")), exchange, symbol, timeframe: form.get("timeframe"),
          since_ms: dayMs(String(form.get("since"))), until_ms: dayMs(String(form.get("until")), true),
          cash: String(form.get("cash")), fee: String(form.get("fee")), params,
        });
      }
      navigate(`/backtests/${created.id}`);
    } catch (error) {
      this.error = error;
    } finally {
      this.busy = false;
    }
  }

  render() {
    return html`
      <div class="page-head"><div><h1>Backtests</h1><p>The same engine and semantics as live trading, over history.</p></div></div>
      <section class="panel" style="margin-bottom:16px">
        <h2>Run a backtest</h2>
        ${this.strategies.length === 0
          ? empty("No strategy to test", "Write a strategy first.", html`<a class="button primary" href="/strategies/new">New strategy</a>`)
          : html`<form class="form" @submit=${this.submit} novalidate>
            <div class="form-row">
              <label>Strategy<select @change=${(e: Event) => void this.pickStrategy(Number((e.target as HTMLSelectElement).value))}>
                ${this.strategies.map((s) => html`<option value=${s.id} ?selected=${s.id === this.strategyId}>${s.name}</option>`)}</select></label>
              <label>Version<select name="version_id">${this.versions.map((v) => html`<option value=${v.id}>v${v.number}</option>`)}</select></label>
              <label>Timeframe<select name="timeframe">${TIMEFRAMES.map((tf) => html`<option ?selected=${tf === "1h"}>${tf}</option>`)}</select></label>
            </div>
            <div class="source-switch" role="group" aria-label="Candles">
              <button type="button" aria-pressed=${!this.fromFile ? "true" : "false"} @click=${() => (this.fromFile = false)} ?disabled=${this.markets.length === 0}>Stored market</button>
              <button type="button" aria-pressed=${this.fromFile ? "true" : "false"} @click=${() => (this.fromFile = true)}>Upload CSV</button>
            </div>
            ${this.fromFile
              ? html`<label>Candle file (CSV: timestamp_ms,open,high,low,close,volume)<input name="file" type="file" accept=".csv,text/csv" aria-invalid=${invalid(this.error, "file")} />${fieldError(this.error, "file")}</label>`
              : html`<div class="form-row">
                  <label>Market<select name="market">${this.markets.map((m) => html`<option value="${m.exchange} ${m.symbol}">${m.symbol} · ${m.exchange}</option>`)}</select></label>
                  <label>From (UTC)<input name="since" type="date" /></label>
                  <label>To (UTC)<input name="until" type="date" /></label>
                </div>`}
            <div class="form-row">
              <label>Starting cash<input name="cash" value="10000" inputmode="decimal" aria-invalid=${invalid(this.error, "cash")} />${fieldError(this.error, "cash")}</label>
              <label>Fee per trade (fraction)<input name="fee" value="0.001" inputmode="decimal" aria-invalid=${invalid(this.error, "fee")} />${fieldError(this.error, "fee")}</label>
              <label>Parameters<input name="params" placeholder="fast=5, slow=20" aria-invalid=${invalid(this.error, "params")} />${fieldError(this.error, "params")}</label>
            </div>
            ${this.error && !(this.error instanceof ApiError && this.error.fields.length) ? errorNotice(this.error) : ""}
            <div class="actions"><button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? "Queueing…" : "Run backtest"}</button></div>
          </form>`}
      </section>
      <section class="panel">
        <h2>Recent backtests</h2>
        ${this.backtests === null ? loading() : this.backtests.length === 0 ? html`<p class="muted">Your backtests and their results are kept here.</p>`
          : html`<div class="table-wrap"><table><thead><tr><th>Strategy</th><th>Candles</th><th>Status</th><th class="num">Return</th><th class="num">Trades</th><th>Started</th></tr></thead><tbody>
            ${this.backtests.map((b) => html`<tr>
              <td><a href="/backtests/${b.id}">${b.strategy} v${b.version}</a></td>
              <td>${b.upload_name ?? `${b.symbol} · ${b.exchange}`} <span class="muted">${b.timeframe}</span></td>
              <td>${statusBadge(b.status)}${b.status === "running" ? html` <span class="muted">${Math.round(b.progress * 100)}%</span>` : ""}</td>
              <td class="num">${b.metrics ? percent(b.metrics.total_return) : "—"}</td>
              <td class="num">${b.metrics ? b.metrics.trades : "—"}</td>
              <td>${ago(b.created_ms)}</td>
            </tr>`)}</tbody></table></div>`}
      </section>
    `;
  }
}
