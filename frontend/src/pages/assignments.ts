// Assignments: the list with each one's live state, and a form to assign a strategy version to
// a market, a timeframe and an account with an allocation and parameters.
import { LitElement, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, api, type Page, everyItem, versionsOf } from "../api";
import { empty, errorNotice, fieldError, invalid, loading, pnl, positionBadge } from "../components/ui";
import { dateTime, money, quoteOf } from "../format";
import { formParams } from "../params";
import { navigate } from "../router";
import { theme } from "../styles";
import type { Account, Assignment, Market, Strategy, StrategyVersion } from "../types";

const TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d"];

@customElement("tw-assignments-page")
export class AssignmentsPage extends LitElement {
  static styles = [theme];

  @property({ attribute: false }) query = new URLSearchParams();
  @state() private assignments: Assignment[] | null = null;
  @state() private strategies: Strategy[] = [];
  @state() private versions: StrategyVersion[] = [];
  @state() private accounts: Account[] = [];
  @state() private markets: Market[] = [];
  @state() private strategyId = 0;
  @state() private error: unknown = null;
  @state() private loadError: unknown = null;
  @state() private busy = false;

  // Loaded once the element's properties are set (a lazily defined element gets them late).
  firstUpdated(): void {
    void this.load();
  }


  private async load(): Promise<void> {
    try {
      const [assignments, strategies, accounts, markets] = await Promise.all([
        api.get<Page<Assignment>>("/api/assignments", { limit: 500 }),
        api.get<Page<Strategy>>("/api/strategies", { limit: 500 }),
        api.get<Page<Account>>("/api/accounts", { limit: 500 }),
        everyItem<Market>("/api/markets"),
      ]);
      this.assignments = assignments.items;
      this.strategies = strategies.items;
      this.accounts = accounts.items.filter((a) => a.enabled);
      this.markets = markets;
      const wanted = Number(this.query.get("strategy") ?? 0);
      await this.pick(strategies.items.find((s) => s.id === wanted)?.id ?? strategies.items[0]?.id ?? 0);
    } catch (error) {
      this.loadError = error;
    }
  }

  private async pick(id: number): Promise<void> {
    this.strategyId = id;
    this.versions = await versionsOf(id);
  }

  private async submit(event: Event): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    this.error = null;
    const [exchange, symbol] = String(form.get("market") ?? "").split(" ");
    this.busy = true;
    try {
      const params = formParams(form);
      const created = await api.post<Assignment>("/api/assignments", {
        version_id: Number(form.get("version_id")), exchange, symbol, timeframe: form.get("timeframe"),
        account_id: Number(form.get("account_id")), allocation: String(form.get("allocation")).trim(), params,
      });
      navigate(`/assignments/${created.id}`);
    } catch (error) {
      this.error = error;
    } finally {
      this.busy = false;
    }
  }

  private renderForm() {
    if (this.strategies.length === 0) return empty("Write a strategy first", "An assignment runs a saved strategy version.", html`<a class="button primary" href="/strategies/new">New strategy</a>`);
    if (this.accounts.length === 0) return empty("Create an account first", "An assignment trades on a paper or exchange account.", html`<a class="button primary" href="/accounts">Add an account</a>`);
    const wantedMarket = `${this.query.get("exchange") ?? ""} ${this.query.get("symbol") ?? ""}`;
    const general = this.error && !(this.error instanceof ApiError && this.error.fields.length);
    return html`<form class="form" @submit=${this.submit} novalidate>
      <div class="form-row">
        <label>Strategy<select @change=${(e: Event) => void this.pick(Number((e.target as HTMLSelectElement).value))}>
          ${this.strategies.map((s) => html`<option value=${s.id} ?selected=${s.id === this.strategyId}>${s.name}</option>`)}</select></label>
        <label>Version<select name="version_id" aria-invalid=${invalid(this.error, "version_id")}>${this.versions.map((v) => html`<option value=${v.id}>v${v.number}</option>`)}</select>${fieldError(this.error, "version_id")}</label>
        <label>Market<select name="market" aria-invalid=${invalid(this.error, "symbol")}>${this.markets.map((m) => html`<option value="${m.exchange} ${m.symbol}" ?selected=${`${m.exchange} ${m.symbol}` === wantedMarket}>${m.symbol} · ${m.exchange}</option>`)}</select>${fieldError(this.error, "symbol")}</label>
        <label>Timeframe<select name="timeframe">${TIMEFRAMES.map((tf) => html`<option>${tf}</option>`)}</select></label>
      </div>
      <div class="form-row">
        <label>Account<select name="account_id" aria-invalid=${invalid(this.error, "account_id")}>${this.accounts.map((a) => html`<option value=${a.id}>${a.name}${a.kind === "paper" ? " (paper)" : ` (${a.exchange})`}</option>`)}</select>${fieldError(this.error, "account_id")}</label>
        <label>Allocation (quote currency)<input name="allocation" value="1000" inputmode="decimal" aria-invalid=${invalid(this.error, "allocation")} />${fieldError(this.error, "allocation")}</label>
        <label>Parameters<input name="params" placeholder="fast=5, slow=20" aria-invalid=${invalid(this.error, "params")} />${fieldError(this.error, "params")}</label>
      </div>
      <p class="muted">The assignment starts in cash with its allocation as its own slice of the account, and trades only that slice.</p>
      ${general ? errorNotice(this.error) : ""}
      <div class="actions"><button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? "Assigning…" : "Assign and start"}</button></div>
    </form>`;
  }

  render() {
    return html`
      <div class="page-head"><div><h1>Assignments</h1><p>Strategies at work: each on a market, a timeframe and a slice of an account.</p></div></div>
      ${this.loadError ? errorNotice(this.loadError, () => void this.load()) : ""}
      <section class="panel" style="margin-bottom:16px">
        ${this.assignments === null ? loading() : this.assignments.length === 0 ? html`<p class="muted">No assignments yet.</p>`
          : html`<div class="table-wrap"><table>
            <thead><tr><th>#</th><th>Strategy</th><th>Market</th><th>Account</th><th>Position</th><th class="num">Equity</th><th class="num">P&L</th><th class="hide-narrow">Last evaluation</th></tr></thead>
            <tbody>${this.assignments.map((a) => {
              const q = quoteOf(a.symbol);
              const total = Number(a.realized_pnl) + Number(a.unrealized_pnl);
              return html`<tr>
                <td><a href="/assignments/${a.id}">#${a.id}</a></td>
                <td>${a.strategy} <span class="muted">v${a.version}</span>${a.enabled ? "" : html` <span class="badge" title=${a.disabled_reason ?? ""}>disabled</span>`}</td>
                <td>${a.symbol} <span class="muted">${a.exchange} · ${a.timeframe}</span></td>
                <td>${a.account}</td>
                <td>${positionBadge(a.position)}</td>
                <td class="num">${money(a.equity, q)}</td>
                <td class="num">${pnl(total, q)}</td>
                <td class="hide-narrow">${a.last_evaluation ? html`${a.last_evaluation.error ? html`<span class="down" title=${a.last_evaluation.error}>${a.last_evaluation.result}</span>` : a.last_evaluation.result} <span class="muted">${dateTime(a.last_evaluation.candle_time_ms)}</span>` : html`<span class="muted">—</span>`}</td>
              </tr>`;
            })}</tbody></table></div>`}
      </section>
      <section class="panel"><h2>New assignment</h2>${this.renderForm()}</section>
    `;
  }
}
