// A market's candlestick chart (lightweight-charts), with volume, buy and sell markers, and live
// updates: `candles` replaces the data, `append()` adds or updates the newest candle in place.
import { LitElement, css, html } from "lit";
import { customElement, property } from "lit/decorators.js";
import {
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  createChart,
  createSeriesMarkers,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import type { CandleRow } from "../types";

export interface TradeMarker {
  time_ms: number;
  side: "buy" | "sell";
  price?: number;
  label?: string;
}

const UP = "#22c55e";
const DOWN = "#f43f5e";

export function toSeconds(ms: number): UTCTimestamp {
  return Math.floor(ms / 1000) as UTCTimestamp;
}

/** Markers snapped to the candle that holds them (a fill may land inside a bucket). */
export function markersFor(trades: TradeMarker[], candles: CandleRow[]): SeriesMarker<Time>[] {
  if (candles.length === 0) return [];
  const times = candles.map((c) => c[0]);
  const first = times[0]!;
  const last = times[times.length - 1]!;
  const out: SeriesMarker<Time>[] = [];
  const labelled = trades.length <= 60; // past that, words would cover the candles
  for (const trade of trades) {
    if (trade.time_ms < first || trade.time_ms > last + (times.length > 1 ? times[1]! - first : 0)) continue;
    let lo = 0;
    let hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid]! <= trade.time_ms) lo = mid;
      else hi = mid - 1;
    }
    const buy = trade.side === "buy";
    out.push({
      time: toSeconds(times[lo]!),
      position: buy ? "belowBar" : "aboveBar",
      color: buy ? UP : DOWN,
      shape: buy ? "arrowUp" : "arrowDown",
      text: labelled ? (trade.label ?? (buy ? "Buy" : "Sell")) : "",
      size: labelled ? 1 : 0.6,
    });
  }
  return out;
}

@customElement("tw-candle-chart")
export class CandleChart extends LitElement {
  static styles = css`
    :host { display: block; position: relative; min-height: 260px; }
    .chart { position: absolute; inset: 0; }
  `;

  @property({ attribute: false }) candles: CandleRow[] = [];
  @property({ attribute: false }) trades: TradeMarker[] = [];
  @property({ type: Number }) height = 380;

  /** How long the last full redraw took (ms): the browser benchmark reads it. */
  lastDrawMs = 0;

  private chart?: IChartApi;
  private series?: ISeriesApi<"Candlestick">;
  private volume?: ISeriesApi<"Histogram">;
  private markers?: ISeriesMarkersPluginApi<Time>;
  private resizer?: ResizeObserver;

  render() {
    this.style.height = `${this.height}px`;
    return html`<div class="chart" part="chart"></div>`;
  }

  firstUpdated(): void {
    const container = this.renderRoot.querySelector(".chart") as HTMLElement;
    this.chart = createChart(container, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: "#8da2c0", fontSize: 12, attributionLogo: false },
      grid: { vertLines: { color: "#18233d" }, horzLines: { color: "#18233d" } },
      rightPriceScale: { borderColor: "#223052" },
      timeScale: { borderColor: "#223052", timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN, wickUpColor: UP, wickDownColor: DOWN,
    });
    this.volume = this.chart.addSeries(HistogramSeries, { priceScaleId: "volume", priceFormat: { type: "volume" }, color: "#1e3a5f" });
    this.chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.markers = createSeriesMarkers(this.series, []);
    this.draw();
  }

  updated(changed: Map<string, unknown>): void {
    if (this.chart && (changed.has("candles") || changed.has("trades"))) this.draw();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizer?.disconnect();
    this.chart?.remove();
    this.chart = undefined;
  }

  private draw(): void {
    if (!this.series || !this.volume || !this.chart) return;
    const started = performance.now();
    this.series.setData(this.candles.map((c) => ({ time: toSeconds(c[0]), open: c[1], high: c[2], low: c[3], close: c[4] })));
    this.volume.setData(this.candles.map((c) => ({ time: toSeconds(c[0]), value: c[5], color: c[4] >= c[1] ? "#14532d" : "#4c1d2b" })));
    this.markers?.setMarkers(markersFor(this.trades, this.candles));
    this.chart.timeScale().fitContent();
    this.lastDrawMs = performance.now() - started;
    this.dispatchEvent(new CustomEvent("drawn", { detail: { ms: this.lastDrawMs, candles: this.candles.length } }));
  }

  /** A candle that just closed: appended, or the newest one replaced. */
  addCandle(candle: CandleRow): void {
    const last = this.candles[this.candles.length - 1];
    if (last && candle[0] < last[0]) return;
    this.candles = last && last[0] === candle[0] ? [...this.candles.slice(0, -1), candle] : [...this.candles, candle];
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tw-candle-chart": CandleChart;
  }
}
