// The desk's frame: navigation, the "pause all trading" switch, the signed-in user, and the page
// the address names (each page's code is loaded when first opened).
import { LitElement, css, html, type TemplateResult } from "lit";
import { customElement, state } from "lit/decorators.js";
import { api } from "../api";
import { live } from "../live";
import { current, interceptLinks, navigate, onRoute, type Route } from "../router";
import { session } from "../session";
import { theme } from "../styles";
import type { User } from "../types";
import { icons } from "./icons";

const PAGES: Record<string, () => Promise<unknown>> = {
  signin: () => import("../pages/signin"),
  signup: () => import("../pages/signin"),
  dashboard: () => import("../pages/dashboard"),
  strategies: () => import("../pages/strategies"),
  "strategy-new": () => import("../pages/strategy-editor"),
  strategy: () => import("../pages/strategy-editor"),
  backtests: () => import("../pages/backtests"),
  backtest: () => import("../pages/backtest-view"),
  markets: () => import("../pages/markets"),
  market: () => import("../pages/market-view"),
  accounts: () => import("../pages/accounts"),
  assignments: () => import("../pages/assignments"),
  assignment: () => import("../pages/assignment-view"),
  orders: () => import("../pages/orders"),
  settings: () => import("../pages/settings"),
};

const NAV: [string, string, keyof typeof icons][] = [
  ["/", "Dashboard", "dashboard"],
  ["/strategies", "Strategies", "strategies"],
  ["/backtests", "Backtests", "backtests"],
  ["/assignments", "Assignments", "assignments"],
  ["/markets", "Markets", "markets"],
  ["/accounts", "Accounts", "accounts"],
  ["/orders", "Orders", "orders"],
  ["/settings", "Settings", "settings"],
];

const PUBLIC = new Set(["signin", "signup"]);

@customElement("tw-app")
export class App extends LitElement {
  static styles = [
    theme,
    css`
      :host { display: block; min-height: 100vh; background: var(--bg); }
      .layout { display: grid; grid-template-columns: 224px 1fr; min-height: 100vh; }
      nav { background: #0a1120; border-right: 1px solid var(--line); padding: 16px 12px; display: flex; flex-direction: column; gap: 4px; position: sticky; top: 0; height: 100vh; }
      .brand { display: flex; align-items: center; gap: 10px; font-weight: 700; font-size: 16px; padding: 4px 8px 18px; color: var(--text); letter-spacing: -0.01em; }
      nav a { display: flex; align-items: center; gap: 10px; padding: 9px 10px; border-radius: 8px; color: var(--muted); font-weight: 500; }
      nav a:hover { background: #121c33; color: var(--text); text-decoration: none; }
      nav a[aria-current="page"] { background: #132341; color: var(--text); box-shadow: inset 2px 0 0 var(--accent); }
      .spacer { flex: 1; }
      .who { color: var(--faint); font-size: 12px; padding: 8px 10px; overflow: hidden; text-overflow: ellipsis; }
      main { padding: 0; min-width: 0; }
      .topbar { display: flex; align-items: center; justify-content: flex-end; gap: 12px; padding: 12px 28px; border-bottom: 1px solid var(--line); background: rgba(11, 18, 32, 0.85); position: sticky; top: 0; z-index: 5; backdrop-filter: blur(6px); }
      .status { display: inline-flex; align-items: center; gap: 8px; font-size: 13px; color: var(--muted); margin-right: auto; }
      .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--up); box-shadow: 0 0 0 3px rgba(34, 197, 94, 0.15); }
      .dot.off { background: var(--faint); box-shadow: none; }
      .switch { font-weight: 650; border-radius: 999px; padding: 7px 16px; }
      .switch.active { background: #0f2a1d; border-color: #1f5137; color: #86efac; }
      .switch.paused { background: #2a1f0b; border-color: #8a6514; color: #fcd34d; }
      .content { padding: 24px 28px 48px; max-width: 1400px; }
      .paused-banner { margin: 16px 28px 0; }
      .public { min-height: 100vh; display: grid; place-items: center; padding: 24px; }
      @media (max-width: 860px) {
        .layout { grid-template-columns: 1fr; }
        nav { position: static; height: auto; flex-direction: row; overflow-x: auto; padding: 8px; gap: 2px; border-right: none; border-bottom: 1px solid var(--line); }
        .brand { padding: 4px 8px; }
        .brand span, .who, .spacer { display: none; }
        nav a { white-space: nowrap; padding: 8px 10px; }
        nav a span { display: none; }
        nav a[aria-current="page"] span { display: inline; }
        .topbar { padding: 10px 14px; }
        .content { padding: 16px 14px 40px; }
        .paused-banner { margin: 12px 14px 0; }
      }
    `,
  ];

  @state() private route: Route = current();
  @state() private user: User | null = null;
  @state() private ready = false;
  @state() private liveUp = false;
  @state() private switching = false;

  connectedCallback(): void {
    super.connectedCallback();
    interceptLinks(document);
    onRoute((route) => (this.route = route));
    session.subscribe((user) => {
      this.user = user;
      if (user) live.start();
      else live.stop();
      this.guard();
    });
    live.on((event) => {
      if (event.type === "hello") this.liveUp = event.live;
    });
    void session.load().then(() => {
      this.ready = true;
      this.guard();
    });
  }

  private guard(): void {
    if (!this.ready) return;
    const isPublic = PUBLIC.has(this.route.name);
    if (!this.user && !isPublic) navigate("/signin", true);
    else if (this.user && isPublic) navigate("/", true);
  }

  updated(): void {
    const load = PAGES[this.route.name];
    if (load) void load();
    document.title = `${this.pageTitle()} · Tradewinds`;
  }

  private pageTitle(): string {
    return NAV.find(([, , key]) => key === this.route.name || `${key}`.startsWith(this.route.name))?.[1] ?? "Tradewinds";
  }

  private async toggleTrading(): Promise<void> {
    if (!this.user) return;
    const pausing = !this.user.trading_paused;
    if (pausing && !confirm("Pause all trading? No new orders will be placed for any of your assignments until you resume.")) return;
    this.switching = true;
    try {
      session.set(await api.put<User>("/api/me/trading", { trading_paused: pausing }));
    } catch (error) {
      alert(error instanceof Error ? error.message : String(error));
    } finally {
      this.switching = false;
    }
  }

  private page(): TemplateResult {
    const { name, params, query } = this.route;
    switch (name) {
      case "signin":
        return html`<tw-signin-page mode="signin"></tw-signin-page>`;
      case "signup":
        return html`<tw-signin-page mode="signup"></tw-signin-page>`;
      case "dashboard":
        return html`<tw-dashboard-page></tw-dashboard-page>`;
      case "strategies":
        return html`<tw-strategies-page></tw-strategies-page>`;
      case "strategy-new":
        return html`<tw-strategy-editor .template=${query.get("template") ?? ""}></tw-strategy-editor>`;
      case "strategy":
        return html`<tw-strategy-editor .strategyId=${Number(params.id)}></tw-strategy-editor>`;
      case "backtests":
        return html`<tw-backtests-page .query=${query}></tw-backtests-page>`;
      case "backtest":
        return html`<tw-backtest-view .backtestId=${Number(params.id)}></tw-backtest-view>`;
      case "markets":
        return html`<tw-markets-page></tw-markets-page>`;
      case "market":
        return html`<tw-market-view .exchange=${params.exchange!} .symbol=${`${params.base}/${params.quote}`} .timeframe=${query.get("tf") ?? "1h"}></tw-market-view>`;
      case "accounts":
        return html`<tw-accounts-page></tw-accounts-page>`;
      case "assignments":
        return html`<tw-assignments-page .query=${query}></tw-assignments-page>`;
      case "assignment":
        return html`<tw-assignment-view .assignmentId=${Number(params.id)}></tw-assignment-view>`;
      case "orders":
        return html`<tw-orders-page></tw-orders-page>`;
      case "settings":
        return html`<tw-settings-page></tw-settings-page>`;
      default:
        return html`<div class="panel empty"><strong>Page not found</strong><p>There is nothing at ${location.pathname}.</p><a href="/">Back to the dashboard</a></div>`;
    }
  }

  render() {
    if (!this.ready) return html`<div class="public muted">Loading Tradewinds…</div>`;
    if (PUBLIC.has(this.route.name) || !this.user) return html`<div class="public">${this.page()}</div>`;
    const here = this.route.name;
    const section = (href: string) => (href === "/" ? here === "dashboard" : location.pathname.startsWith(href));
    const paused = this.user.trading_paused;
    return html`
      <div class="layout">
        <nav aria-label="Main">
          <a class="brand" href="/" aria-label="Tradewinds home">${icons.logo}<span>Tradewinds</span></a>
          ${NAV.map(([href, label, icon]) => html`<a href=${href} aria-current=${section(href) ? "page" : "false"}>${icons[icon]}<span>${label}</span></a>`)}
          <div class="spacer"></div>
          <div class="who" title=${this.user.email}>${this.user.email}</div>
          <a href="/signin" @click=${(e: Event) => { e.preventDefault(); void session.signOut(); }}><span>Sign out</span></a>
        </nav>
        <main>
          <div class="topbar">
            <span class="status" title=${this.liveUp ? "Live updates connected" : "Live updates unavailable"}>
              <span class="dot ${this.liveUp ? "" : "off"}"></span>${this.liveUp ? "Live" : "Offline"}
            </span>
            <button class="switch ${paused ? "paused" : "active"}" ?disabled=${this.switching} @click=${this.toggleTrading}
              aria-pressed=${paused ? "true" : "false"} title=${paused ? "Trading is paused: resume to place orders again" : "Pause all trading"}>
              ${paused ? icons.play : icons.pause} ${paused ? "Trading paused — resume" : "Trading active — pause all"}
            </button>
          </div>
          ${paused ? html`<div class="notice paused-banner" role="status">All trading is paused: strategies keep evaluating, but no order is placed until you resume.</div>` : ""}
          <div class="content">${this.page()}</div>
        </main>
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tw-app": App;
  }
}
