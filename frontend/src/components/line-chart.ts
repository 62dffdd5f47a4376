// An equity curve (and a benchmark beside it): lightweight-charts line and area series.
import { LitElement, css, html } from "lit";
import { customElement, property } from "lit/decorators.js";
import { AreaSeries, ColorType, LineSeries, createChart, type IChartApi, type ISeriesApi } from "lightweight-charts";
import { toSeconds } from "./candle-chart";

export interface Curve {
  name: string;
  points: [number, number][];
  color: string;
  area?: boolean;
}

@customElement("tw-line-chart")
export class LineChart extends LitElement {
  static styles = css`
    :host { display: block; position: relative; }
    .chart { position: absolute; inset: 0; }
    .legend { position: absolute; top: 6px; left: 10px; z-index: 2; display: flex; gap: 14px; font-size: 12px; color: #8da2c0; pointer-events: none; }
    .legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; margin-right: 5px; vertical-align: middle; }
  `;

  @property({ attribute: false }) curves: Curve[] = [];
  @property({ type: Number }) height = 240;

  private chart?: IChartApi;
  private series: ISeriesApi<"Line" | "Area">[] = [];

  render() {
    this.style.height = `${this.height}px`;
    return html`<div class="legend">${this.curves.map((c) => html`<span><i style="background:${c.color}"></i>${c.name}</span>`)}</div>
      <div class="chart"></div>`;
  }

  firstUpdated(): void {
    this.chart = createChart(this.renderRoot.querySelector(".chart") as HTMLElement, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: "#8da2c0", fontSize: 12, attributionLogo: false },
      grid: { vertLines: { visible: false }, horzLines: { color: "#18233d" } },
      rightPriceScale: { borderColor: "#223052" },
      timeScale: { borderColor: "#223052", timeVisible: true },
      handleScroll: false,
      handleScale: false,
    });
    this.draw();
  }

  updated(changed: Map<string, unknown>): void {
    if (this.chart && changed.has("curves")) this.draw();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.chart?.remove();
    this.chart = undefined;
  }

  private draw(): void {
    if (!this.chart) return;
    for (const series of this.series) this.chart.removeSeries(series);
    this.series = this.curves.map((curve) => {
      const series = curve.area
        ? this.chart!.addSeries(AreaSeries, { lineColor: curve.color, topColor: `${curve.color}55`, bottomColor: `${curve.color}05`, lineWidth: 2 })
        : this.chart!.addSeries(LineSeries, { color: curve.color, lineWidth: 2, lineStyle: 2 });
      const seen = new Set<number>();
      const data = curve.points
        .map(([t, v]) => ({ time: toSeconds(t), value: v }))
        .filter((p) => (seen.has(p.time) ? false : (seen.add(p.time), true)));
      series.setData(data);
      return series;
    });
    this.chart.timeScale().fitContent();
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tw-line-chart": LineChart;
  }
}
