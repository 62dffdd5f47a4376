// The morning view: equity over time, each assignment's P&L, recent trades and errors; live.
import { LitElement, html } from "lit";
import { customElement, state } from "lit/decorators.js";
import { api } from "../api";
import "../components/line-chart";
import { empty, errorNotice, loading, pnl, positionBadge, statusBadge } from "../components/ui";
import { ago, amount, dateTime, money, percent, price, quoteOf } from "../format";
import { live } from "../live";
import { theme } from "../styles";
import type { Dashboard } from "../types";

@customElement("tw-dashboard-page")
export class DashboardPage extends LitElement {
  static styles = [theme];

  @state() private data: Dashboard | null = null;
  @state() private error: unknown = null;
  private off?: () => void;
  private timer?: ReturnType<typeof setTimeout>;

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.off = live.on((event) => {
      if (event.type === "order" || event.type === "tick") this.soon();
    });
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.off?.();
    clearTimeout(this.timer);
  }

  private soon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.load(), 400);
  }

  private async load(): Promise<void> {
    try {
      this.data = await api.get<Dashboard>("/api/dashboard");
      this.error = null;
    } catch (error) {
      this.error = error;
    }
  }

  render() {
    if (this.error && !this.data) return errorNotice(this.error, () => void this.load());
    if (!this.data) return html`<div class="page-head"><h1>Dashboard</h1></div>${loading(6)}`;
    const d = this.data;
    const ccy = d.currency;
    const change = Number(d.total_allocation) > 0 ? Number(d.total_pnl) / Number(d.total_allocation) : 0;
    const holding = d.assignments.filter((a) => a.position === "long").length;
    return html`
      <div class="page-head">
        <div><h1>Dashboard</h1><p>${d.assignments.length} assignment${d.assignments.length === 1 ? "" : "s"} · ${holding} holding a position</p></div>
        <div class="actions"><a class="button" href="/assignments?new=1">New assignment</a><a class="button primary" href="/strategies/new">New strategy</a></div>
      </div>
      <div class="cards" style="margin-bottom:16px">
        <div class="card"><div class="label">Total equity</div><div class="value" data-testid="total-equity">${money(d.total_equity, ccy)}</div></div>
        <div class="card"><div class="label">Profit and loss</div><div class="value">${pnl(d.total_pnl, ccy)}</div><div class="muted">${percent(change)} on ${money(d.total_allocation, ccy)} allocated</div></div>
        <div class="card"><div class="label">Open positions</div><div class="value">${holding}</div><div class="muted">of ${d.assignments.length} assignments</div></div>
        <div class="card"><div class="label">Errors</div><div class="value ${d.recent_errors.length ? "down" : ""}">${d.recent_errors.length}</div><div class="muted">needing attention</div></div>
      </div>
      <div class="split">
        <section class="panel">
          <h2>Equity over time</h2>
          ${d.equity.length > 1
            ? html`<tw-line-chart .height=${240} .curves=${[{ name: `Equity (${ccy})`, points: d.equity, color: "#38bdf8", area: true }]}></tw-line-chart>`
            : empty("No history yet", "The curve starts when your first assignment trades.")}
        </section>
        <section class="panel">
          <h2>Needs attention</h2>
          ${d.recent_errors.length === 0
            ? html`<p class="muted">No errors. Strategies that fail show up here with their line.</p>`
            : d.recent_errors.map((e) => html`<div class="notice error" style="margin-bottom:8px"><a href="/assignments/${e.assignment_id}">${e.strategy} #${e.assignment_id}</a><div class="mono">${e.message}</div></div>`)}
        </section>
      </div>
      <section class="panel" style="margin-top:16px">
        <h2>Assignments</h2>
        ${d.assignments.length === 0
          ? empty("No assignments yet", "Assign a strategy to a market and an account to start trading.", html`<a class="button primary" href="/assignments?new=1">Assign a strategy</a>`)
          : html`<div class="table-wrap"><table>
              <thead><tr><th>Strategy</th><th>Market</th><th>Position</th><th class="num">Price</th><th class="num">Equity</th><th class="num">Realised</th><th class="num">Unrealised</th><th class="hide-narrow">Last evaluation</th></tr></thead>
              <tbody>${d.assignments.map((a) => {
                const q = quoteOf(a.symbol);
                return html`<tr>
                  <td><a href="/assignments/${a.id}">${a.strategy}</a> <span class="muted">v${a.version}</span>${a.enabled ? "" : html` <span class="badge">off</span>`}</td>
                  <td>${a.symbol} <span class="muted">${a.exchange} · ${a.timeframe}</span></td>
                  <td>${positionBadge(a.position)}</td>
                  <td class="num">${price(a.last_price)}</td>
                  <td class="num">${money(a.equity, q)}</td>
                  <td class="num">${pnl(a.realized_pnl, q)}</td>
                  <td class="num">${pnl(a.unrealized_pnl, q)}</td>
                  <td class="hide-narrow">${a.last_evaluation
                    ? html`${a.last_evaluation.error ? html`<span class="down">${a.last_evaluation.result}</span>` : a.last_evaluation.result} <span class="muted">${dateTime(a.last_evaluation.candle_time_ms)}</span>`
                    : html`<span class="muted">waiting for a candle</span>`}</td>
                </tr>`;
              })}</tbody></table></div>`}
      </section>
      <section class="panel" style="margin-top:16px">
        <h2>Recent trades</h2>
        ${d.recent_orders.length === 0
          ? html`<p class="muted">No orders yet. They appear here the moment a strategy changes position.</p>`
          : html`<div class="table-wrap"><table data-testid="recent-orders">
              <thead><tr><th>When</th><th>Market</th><th>Side</th><th class="num">Amount</th><th class="num">Price</th><th class="num">Fee</th><th>Status</th></tr></thead>
              <tbody>${d.recent_orders.map((o) => html`<tr>
                <td title=${dateTime(o.updated_ms)}>${ago(o.updated_ms)}</td>
                <td><a href="/assignments/${o.assignment_id}">${o.symbol}</a></td>
                <td class=${o.side === "buy" ? "up" : "down"}>${o.side === "buy" ? "Buy" : "Sell"}</td>
                <td class="num">${amount(o.filled !== "0" ? o.filled : o.amount)}</td>
                <td class="num">${price(o.price)}</td>
                <td class="num">${amount(o.fee)} ${o.fee_currency ?? ""}</td>
                <td>${statusBadge(o.status)}${o.error ? html` <span class="down mono">${o.error}</span>` : ""}</td>
              </tr>`)}</tbody></table></div>`}
      </section>
    `;
  }
}
