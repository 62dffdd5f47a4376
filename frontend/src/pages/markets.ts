// Every market with candles, searchable, with its last price and 24-hour change.
import { LitElement, html } from "lit";
import { customElement, state } from "lit/decorators.js";
import { everyItem } from "../api";
import { empty, errorNotice, loading } from "../components/ui";
import { ago, amount, direction, percent, price } from "../format";
import { marketPath } from "../router";
import { theme } from "../styles";
import type { Market } from "../types";

@customElement("tw-markets-page")
export class MarketsPage extends LitElement {
  static styles = [theme];

  @state() private markets: Market[] | null = null;
  @state() private search = "";
  @state() private shown = 200;
  @state() private error: unknown = null;
  private timer?: ReturnType<typeof setInterval>;

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.timer = setInterval(() => void this.load(), 15_000);
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.timer);
  }

  private async load(): Promise<void> {
    try {
      this.markets = await everyItem<Market>("/api/markets");
      this.error = null;
    } catch (error) {
      this.error = error;
    }
  }

  render() {
    const needle = this.search.trim().toUpperCase();
    const shown = (this.markets ?? []).filter((m) => !needle || m.symbol.includes(needle) || m.exchange.toUpperCase().includes(needle));
    return html`
      <div class="page-head">
        <div><h1>Markets</h1><p>${this.markets ? `${this.markets.length} markets` : "Loading markets"} on the connected exchanges</p></div>
        <label style="min-width:260px">Search<input type="search" placeholder="BTC, ALPHA, bitfinex…" .value=${this.search} @input=${(e: Event) => (this.search = (e.target as HTMLInputElement).value)} /></label>
      </div>
      ${this.error ? errorNotice(this.error, () => void this.load()) : ""}
      <section class="panel">
        ${this.markets === null ? loading(6) : shown.length === 0
          ? empty(this.markets.length ? "No market matches" : "No markets yet", this.markets.length ? "Try another search." : "Markets appear as exchange adapters stream them, or when you import candles.")
          : html`<div class="table-wrap"><table>
            <thead><tr><th>Market</th><th>Exchange</th><th class="num">Last price</th><th class="num">24 h change</th><th class="num hide-narrow">24 h volume</th><th class="hide-narrow">Updated</th></tr></thead>
            <tbody>${shown.slice(0, this.shown).map((m) => html`<tr>
              <td>${m.timeframes.length
                ? html`<a href=${marketPath(m.exchange, m.symbol)}>${m.symbol}</a>`
                : html`${m.symbol} <a class="muted" href="/assignments?new=1&exchange=${m.exchange}&symbol=${encodeURIComponent(m.symbol)}" title="Assigning a strategy starts streaming it">assign</a>`}
                ${m.streamed ? html`<span class="badge ok" title="streamed now">live</span>` : ""}</td>
              <td class="muted">${m.exchange}</td>
              <td class="num">${price(m.last_price)}</td>
              <td class="num ${direction(m.change_24h)}">${percent(m.change_24h)}</td>
              <td class="num hide-narrow">${amount(m.volume_24h, 2)}</td>
              <td class="hide-narrow muted">${ago(m.last_time_ms)}</td>
            </tr>`)}</tbody></table></div>
            ${shown.length > this.shown ? html`<div class="actions" style="margin-top:10px"><span class="muted">Showing ${this.shown} of ${shown.length}</span>
              <button @click=${() => (this.shown += 200)}>Show more</button></div>` : ""}`}
      </section>
    `;
  }
}
