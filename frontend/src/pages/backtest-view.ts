// One backtest: progress while it runs (cancellable), then its metrics, the candles with buy and
// sell markers, the equity curve against buy-and-hold, and every trade.
import { LitElement, css, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { api } from "../api";
import "../components/candle-chart";
import "../components/line-chart";
import { errorNotice, loading, statusBadge } from "../components/ui";
import { amount, dateTime, money, percent, price } from "../format";
import { theme } from "../styles";
import type { Backtest } from "../types";

@customElement("tw-backtest-view")
export class BacktestView extends LitElement {
  static styles = [
    theme,
    css`
      progress { width: 100%; height: 10px; accent-color: var(--accent); }
      .metric .value { font-size: 19px; }
      .logs { font-family: var(--mono); font-size: 12px; white-space: pre-wrap; max-height: 240px; overflow: auto; color: var(--muted); }
    `,
  ];

  @property({ type: Number }) backtestId = 0;
  @state() private backtest: Backtest | null = null;
  @state() private error: unknown = null;
  @state() private shownTrades = 100;
  private timer?: ReturnType<typeof setTimeout>;

  connectedCallback(): void {
    super.connectedCallback();
  }

  // Loaded once the element's properties are set (a lazily defined element gets them late).
  firstUpdated(): void {
    void this.load();
  }


  disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.timer);
  }

  private async load(): Promise<void> {
    try {
      this.backtest = await api.get<Backtest>(`/api/backtests/${this.backtestId}`);
      this.error = null;
      if (this.backtest.status === "queued" || this.backtest.status === "running") this.timer = setTimeout(() => void this.load(), 700);
    } catch (error) {
      this.error = error;
    }
  }

  private async cancel(): Promise<void> {
    try {
      this.backtest = await api.post<Backtest>(`/api/backtests/${this.backtestId}/cancel`);
    } catch (error) {
      this.error = error;
    }
  }

  render() {
    if (this.error && !this.backtest) return errorNotice(this.error, () => void this.load());
    if (!this.backtest) return loading(5);
    const b = this.backtest;
    const ccy = b.symbol ? (b.symbol.split("/")[1] ?? "USD") : "USD";
    const where = b.upload_name ?? `${b.symbol} on ${b.exchange}`;
    const head = html`<div class="page-head">
      <div><h1>${b.strategy} v${b.version}</h1><p>${where} · ${b.timeframe} · cash ${money(b.cash, ccy)} · fee ${percent(Number(b.fee), false)}</p></div>
      <div class="actions">${statusBadge(b.status)}<a class="button" href="/strategies/${b.strategy_id}">Edit strategy</a><a class="button" href="/backtests?strategy=${b.strategy_id}">New backtest</a></div>
    </div>`;
    if (b.status === "queued" || b.status === "running") {
      return html`${head}<section class="panel">
        <h2>${b.status === "queued" ? "Waiting for its turn…" : "Running…"}</h2>
        <progress max="1" value=${b.progress} aria-label="Progress"></progress>
        <p class="muted" style="margin-top:8px">${Math.round(b.progress * 100)}% · your backtests run one after another</p>
        <button class="danger" @click=${this.cancel}>Cancel</button>
      </section>`;
    }
    if (b.status !== "done" || !b.result) {
      return html`${head}<div class="notice ${b.status === "failed" ? "error" : ""}" role="alert">${b.status === "canceled" ? "This backtest was canceled." : `The backtest failed: ${b.error}`}</div>`;
    }
    const r = b.result;
    const m = r.metrics;
    const trades = r.trades.map((t) => ({ time_ms: t.time_ms, side: t.side, price: t.price }));
    return html`${head}
      <div class="cards" style="margin-bottom:16px">
        <div class="card metric"><div class="label">Final equity</div><div class="value">${money(m.final_equity, ccy)}</div></div>
        <div class="card metric"><div class="label">Total return</div><div class="value ${m.total_return >= 0 ? "up" : "down"}">${percent(m.total_return)}</div><div class="muted">buy and hold ${percent(m.buy_hold_return)}</div></div>
        <div class="card metric"><div class="label">Trades</div><div class="value" data-testid="trade-count">${m.trades}</div><div class="muted">win rate ${percent(m.win_rate, false)}</div></div>
        <div class="card metric"><div class="label">Max drawdown</div><div class="value down">${percent(-m.max_drawdown)}</div></div>
        <div class="card metric"><div class="label">Sharpe (annual)</div><div class="value">${m.sharpe.toFixed(2)}</div><div class="muted">exposure ${percent(m.exposure, false)}</div></div>
      </div>
      ${r.notes.map((n) => html`<div class="notice" style="margin-bottom:8px">${n}</div>`)}
      <section class="panel" style="margin-bottom:16px">
        <h2>Price and trades</h2>
        <tw-candle-chart .candles=${r.candles} .trades=${trades} .height=${400}></tw-candle-chart>
      </section>
      <section class="panel" style="margin-bottom:16px">
        <h2>Equity against buy and hold</h2>
        <tw-line-chart .height=${240} .curves=${[
          { name: "Strategy", points: r.equity, color: "#38bdf8", area: true },
          { name: "Buy and hold", points: r.buy_hold, color: "#a78bfa" },
        ]}></tw-line-chart>
      </section>
      <section class="panel" style="margin-bottom:16px">
        <h2>Trades (${r.trades.length})</h2>
        ${r.trades.length === 0 ? html`<p class="muted">The strategy never changed position.</p>` : html`<div class="table-wrap"><table>
          <thead><tr><th>Time (UTC)</th><th>Side</th><th class="num">Price</th><th class="num">Units</th><th class="num">Fee</th></tr></thead>
          <tbody>${r.trades.slice(0, this.shownTrades).map((t) => html`<tr><td>${dateTime(t.time_ms, true)}</td><td class=${t.side === "buy" ? "up" : "down"}>${t.side === "buy" ? "Buy" : "Sell"}</td>
            <td class="num">${price(t.price)}</td><td class="num">${amount(t.units)}</td><td class="num">${money(t.fee, ccy)}</td></tr>`)}</tbody></table></div>
          ${r.trades.length > this.shownTrades ? html`<div class="actions" style="margin-top:10px"><span class="muted">Showing ${this.shownTrades} of ${r.trades.length}</span>
            <button @click=${() => (this.shownTrades += 500)}>Show more</button></div>` : ""}`}
      </section>
      ${r.logs.length ? html`<section class="panel"><h2>Strategy log</h2><div class="logs">${r.logs.join("\n")}</div></section>` : ""}
    `;
  }
}
