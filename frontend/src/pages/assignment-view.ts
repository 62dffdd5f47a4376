// One assignment: its live state (last evaluation with its error line, position, P&L), its
// trades on the market's chart, its orders; enable and disable.
import { LitElement, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { api, type Page } from "../api";
import "../components/candle-chart";
import type { CandleChart, TradeMarker } from "../components/candle-chart";
import { errorNotice, loading, pnl, positionBadge, statusBadge } from "../components/ui";
import { amount, dateTime, money, price, quoteOf } from "../format";
import { live } from "../live";
import { formatParams } from "../params";
import { marketPath } from "../router";
import { theme } from "../styles";
import type { Assignment, CandleRow, Order } from "../types";

@customElement("tw-assignment-view")
export class AssignmentView extends LitElement {
  static styles = [theme];

  @property({ type: Number }) assignmentId = 0;
  @state() private assignment: Assignment | null = null;
  @state() private orders: Order[] = [];
  @state() private candles: CandleRow[] = [];
  @state() private error: unknown = null;
  private off?: () => void;
  private timer?: ReturnType<typeof setTimeout>;

  connectedCallback(): void {
    super.connectedCallback();
    this.off = live.on((event) => {
      const a = this.assignment;
      if (!a) return;
      if (event.type === "candle" && event.exchange === a.exchange && event.symbol === a.symbol && event.timeframe === a.timeframe) {
        this.renderRoot.querySelector<CandleChart>("tw-candle-chart")?.addCandle(event.candle);
        this.soon();
      } else if ((event.type === "order" && event.order.assignment_id === a.id) || (event.type === "tick" && event.symbol === a.symbol)) {
        this.soon();
      }
    });
  }

  // Loaded once the element's properties are set (a lazily defined element gets them late).
  firstUpdated(): void {
    void this.load(true);
  }


  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.off?.();
    clearTimeout(this.timer);
    live.watch(null);
  }

  private soon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.load(false), 400);
  }

  private async load(withCandles: boolean): Promise<void> {
    try {
      const [assignment, orders] = await Promise.all([
        api.get<Assignment>(`/api/assignments/${this.assignmentId}`),
        api.get<Page<Order>>("/api/orders", { assignment_id: this.assignmentId, limit: 500 }),
      ]);
      this.assignment = assignment;
      this.orders = orders.items;
      if (withCandles) {
        live.watch({ exchange: assignment.exchange, symbol: assignment.symbol, timeframe: assignment.timeframe });
        const body = await api.get<{ candles: CandleRow[] }>(`/api/markets/${encodeURIComponent(assignment.exchange)}/candles`, { symbol: assignment.symbol, timeframe: assignment.timeframe, limit: 2000 }).catch(() => ({ candles: [] as CandleRow[] }));
        this.candles = body.candles;
      }
      this.error = null;
    } catch (error) {
      this.error = error;
    }
  }

  private async setEnabled(enabled: boolean): Promise<void> {
    try {
      this.assignment = await api.patch<Assignment>(`/api/assignments/${this.assignmentId}`, { enabled });
    } catch (error) {
      this.error = error;
    }
  }

  render() {
    if (this.error && !this.assignment) return errorNotice(this.error, () => void this.load(true));
    const a = this.assignment;
    if (!a) return loading(6);
    const q = quoteOf(a.symbol);
    const trades: TradeMarker[] = this.orders.filter((o) => o.status === "filled" && o.price).map((o) => ({ time_ms: o.candle_time_ms, side: o.side, price: Number(o.price) }));
    const ev = a.last_evaluation;
    return html`
      <div class="page-head">
        <div><h1>${a.strategy} v${a.version} <span class="muted" style="font-weight:400">#${a.id}</span></h1>
          <p><a href=${marketPath(a.exchange, a.symbol)}>${a.symbol}</a> on ${a.exchange} · ${a.timeframe} · account ${a.account} · allocation ${money(a.allocation, q)}${Object.keys(a.params).length ? ` · ${formatParams(a.params)}` : ""}</p></div>
        <div class="actions">
          <a class="button" href="/strategies/${a.strategy_id}">Strategy</a>
          ${a.enabled ? html`<button class="danger" @click=${() => void this.setEnabled(false)}>Disable</button>` : html`<button class="primary" @click=${() => void this.setEnabled(true)}>Enable</button>`}
        </div>
      </div>
      ${this.error ? errorNotice(this.error) : ""}
      ${!a.enabled ? html`<div class="notice" style="margin-bottom:12px">Disabled${a.disabled_reason ? `: ${a.disabled_reason}` : ""}. What the slice holds stays held.</div>` : ""}
      <div class="cards" style="margin-bottom:16px">
        <div class="card"><div class="label">Position</div><div class="value">${positionBadge(a.position)}</div><div class="muted">${amount(a.base_held)} ${a.symbol.split("/")[0]} · ${money(a.quote_held, q)}</div></div>
        <div class="card"><div class="label">Equity</div><div class="value">${money(a.equity, q)}</div><div class="muted">at ${price(a.last_price)}</div></div>
        <div class="card"><div class="label">Realised P&L</div><div class="value">${pnl(a.realized_pnl, q)}</div><div class="muted">after ${money(a.fees, q)} fees</div></div>
        <div class="card"><div class="label">Unrealised P&L</div><div class="value">${pnl(a.unrealized_pnl, q)}</div></div>
      </div>
      <section class="panel" style="margin-bottom:16px">
        <h2>Last evaluation</h2>
        ${ev ? html`<p data-testid="last-evaluation">${dateTime(ev.candle_time_ms)} candle: <strong class=${ev.error ? "down" : ""}>${ev.result}</strong></p>
            ${ev.error ? html`<div class="notice error mono" role="alert">${ev.error}</div>` : ""}`
          : html`<p class="muted">Waiting for the next ${a.timeframe} candle to close.</p>`}
      </section>
      <section class="panel" style="margin-bottom:16px">
        <h2>Trades on the chart</h2>
        ${this.candles.length
          ? html`<tw-candle-chart .candles=${this.candles} .trades=${trades} .height=${380}></tw-candle-chart>`
          : html`<p class="muted">No ${a.timeframe} candles of ${a.symbol} are stored yet: the chart fills as the exchange adapter streams the market.</p>`}
      </section>
      <section class="panel">
        <h2>Orders (${this.orders.length})</h2>
        ${this.orders.length === 0 ? html`<p class="muted">No orders yet: one is placed when the strategy changes position.</p>` : html`<div class="table-wrap"><table>
          <thead><tr><th>Candle</th><th>Side</th><th class="num">Amount</th><th class="num">Filled</th><th class="num">Price</th><th class="num">Fee</th><th>Status</th><th class="hide-narrow">Client id</th></tr></thead>
          <tbody>${this.orders.map((o) => html`<tr>
            <td>${dateTime(o.candle_time_ms)}</td><td class=${o.side === "buy" ? "up" : "down"}>${o.side === "buy" ? "Buy" : "Sell"}</td>
            <td class="num">${amount(o.amount)}</td><td class="num">${amount(o.filled)}</td><td class="num">${price(o.price)}</td>
            <td class="num">${amount(o.fee)} ${o.fee_currency ?? ""}</td><td>${statusBadge(o.status)}${o.error ? html` <span class="down">${o.error}</span>` : ""}</td>
            <td class="hide-narrow mono muted">${o.client_order_id}</td></tr>`)}</tbody></table></div>`}
      </section>
    `;
  }
}
