// Every order the platform placed for the user, newest first, filterable by status.
import { LitElement, html } from "lit";
import { customElement, state } from "lit/decorators.js";
import { api, type Page } from "../api";
import { empty, errorNotice, loading, statusBadge } from "../components/ui";
import { amount, dateTime, price } from "../format";
import { live } from "../live";
import { theme } from "../styles";
import type { Order } from "../types";

const STATUSES = ["", "pending", "open", "filled", "canceled", "rejected", "failed"];
const PAGE = 100;

@customElement("tw-orders-page")
export class OrdersPage extends LitElement {
  static styles = [theme];

  @state() private page: Page<Order> | null = null;
  @state() private status = "";
  @state() private offset = 0;
  @state() private error: unknown = null;
  private off?: () => void;

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.off = live.on((event) => {
      if (event.type === "order" && this.offset === 0) void this.load();
    });
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.off?.();
  }

  private async load(): Promise<void> {
    try {
      this.page = await api.get<Page<Order>>("/api/orders", { status: this.status || undefined, offset: this.offset, limit: PAGE });
      this.error = null;
    } catch (error) {
      this.error = error;
    }
  }

  render() {
    const p = this.page;
    return html`
      <div class="page-head">
        <div><h1>Orders</h1><p>${p ? `${p.total} order${p.total === 1 ? "" : "s"}` : ""} — every order and fill is recorded.</p></div>
        <label>Status<select @change=${(e: Event) => { this.status = (e.target as HTMLSelectElement).value; this.offset = 0; void this.load(); }}>
          ${STATUSES.map((s) => html`<option value=${s}>${s || "all"}</option>`)}</select></label>
      </div>
      ${this.error ? errorNotice(this.error, () => void this.load()) : ""}
      <section class="panel">
        ${p === null ? loading(6) : p.items.length === 0 ? empty("No orders", "Orders appear when an assignment's strategy changes position.")
          : html`<div class="table-wrap"><table>
            <thead><tr><th>Placed</th><th>Assignment</th><th>Market</th><th>Side</th><th class="num">Amount</th><th class="num">Price</th><th class="num">Fee</th><th>Status</th></tr></thead>
            <tbody>${p.items.map((o) => html`<tr>
              <td>${dateTime(o.created_ms)}</td><td><a href="/assignments/${o.assignment_id}">#${o.assignment_id}</a></td>
              <td>${o.symbol} <span class="muted">${o.exchange}</span></td>
              <td class=${o.side === "buy" ? "up" : "down"}>${o.side === "buy" ? "Buy" : "Sell"}</td>
              <td class="num">${amount(o.filled !== "0" ? o.filled : o.amount)}</td><td class="num">${price(o.price)}</td>
              <td class="num">${amount(o.fee)} ${o.fee_currency ?? ""}</td>
              <td>${statusBadge(o.status)}${o.error ? html` <span class="down">${o.error}</span>` : ""}</td></tr>`)}</tbody></table></div>
            <div class="actions" style="margin-top:12px">
              <button ?disabled=${this.offset === 0} @click=${() => { this.offset = Math.max(0, this.offset - PAGE); void this.load(); }}>Newer</button>
              <button ?disabled=${this.offset + PAGE >= p.total} @click=${() => { this.offset += PAGE; void this.load(); }}>Older</button>
            </div>`}
      </section>
    `;
  }
}
