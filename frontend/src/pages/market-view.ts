// A market's candlestick chart with a timeframe switch, updating live as candles close.
import { LitElement, css, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { api } from "../api";
import "../components/candle-chart";
import type { CandleChart } from "../components/candle-chart";
import { errorNotice, loading } from "../components/ui";
import { direction, percent, price } from "../format";
import { live } from "../live";
import { marketPath, navigate } from "../router";
import { theme } from "../styles";
import type { CandleRow } from "../types";

const TIMEFRAMES = ["1m", "5m", "15m", "1h", "4h", "1d"];

@customElement("tw-market-view")
export class MarketView extends LitElement {
  static styles = [theme, css`.frames { display: flex; gap: 4px; flex-wrap: wrap; } .frames button[aria-pressed="true"] { border-color: var(--accent); color: var(--text); background: #132341; }`];

  @property() exchange = "";
  @property() symbol = "";
  @property() timeframe = "1h";
  @state() private candles: CandleRow[] | null = null;
  @state() private error: unknown = null;
  @state() private drawMs: number | null = null;
  private off?: () => void;

  connectedCallback(): void {
    super.connectedCallback();
    this.off = live.on((event) => {
      if (event.type === "candle" && event.exchange === this.exchange && event.symbol === this.symbol && event.timeframe === this.timeframe) {
        this.renderRoot.querySelector<CandleChart>("tw-candle-chart")?.addCandle(event.candle);
      }
    });
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.off?.();
    live.watch(null);
  }

  updated(changed: Map<string, unknown>): void {
    if (changed.has("exchange") || changed.has("symbol") || changed.has("timeframe")) void this.load();
  }

  private async load(): Promise<void> {
    this.candles = null;
    live.watch({ exchange: this.exchange, symbol: this.symbol, timeframe: this.timeframe });
    try {
      const body = await api.get<{ candles: CandleRow[] }>(`/api/markets/${encodeURIComponent(this.exchange)}/candles`, { symbol: this.symbol, timeframe: this.timeframe, limit: 10_000 });
      this.candles = body.candles;
      this.error = null;
    } catch (error) {
      this.error = error;
    }
  }

  render() {
    const last = this.candles?.[this.candles.length - 1];
    const first = this.candles?.[0];
    const change = last && first ? last[4] / first[1] - 1 : null;
    return html`
      <div class="page-head">
        <div><h1>${this.symbol} <span class="muted" style="font-weight:400">${this.exchange}</span></h1>
          <p>${last ? html`Last ${price(last[4])} · <span class=${direction(change)}>${percent(change)}</span> over the chart` : "—"}${this.drawMs !== null ? html` · drawn in ${this.drawMs.toFixed(0)} ms` : ""}</p></div>
        <div class="frames" role="group" aria-label="Timeframe">
          ${TIMEFRAMES.map((tf) => html`<button aria-pressed=${tf === this.timeframe ? "true" : "false"} @click=${() => navigate(`${marketPath(this.exchange, this.symbol)}?tf=${tf}`, true)}>${tf}</button>`)}
        </div>
      </div>
      ${this.error ? errorNotice(this.error, () => void this.load()) : ""}
      <section class="panel">
        ${this.candles === null && !this.error ? loading(8) : html`<tw-candle-chart .candles=${this.candles ?? []} .height=${520}
          @drawn=${(e: CustomEvent<{ ms: number }>) => (this.drawMs = e.detail.ms)}></tw-candle-chart>`}
      </section>
      <p class="muted" style="margin-top:10px"><a href="/assignments?new=1&exchange=${this.exchange}&symbol=${encodeURIComponent(this.symbol)}">Assign a strategy to this market</a> · <a href="/backtests">Backtest on it</a></p>
    `;
  }
}
