// Trading accounts: paper accounts with a starting balance, and exchange accounts whose keys are
// checked by the exchange when saved and never shown again.
import { LitElement, css, html } from "lit";
import { customElement, state } from "lit/decorators.js";
import { ApiError, api, type Page } from "../api";
import { empty, errorNotice, fieldError, invalid, loading } from "../components/ui";
import { amount, dateTime, percent } from "../format";
import { theme } from "../styles";
import type { Account } from "../types";

@customElement("tw-accounts-page")
export class AccountsPage extends LitElement {
  static styles = [theme, css`.kinds { display: flex; gap: 8px; } .kinds button[aria-pressed="true"] { border-color: var(--accent); color: var(--text); }`];

  @state() private accounts: Account[] | null = null;
  @state() private kind: "paper" | "exchange" = "paper";
  @state() private error: unknown = null;
  @state() private loadError: unknown = null;
  @state() private busy = false;
  @state() private created = "";

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.accounts = (await api.get<Page<Account>>("/api/accounts", { limit: 500 })).items;
    } catch (error) {
      this.loadError = error;
    }
  }

  private async submit(event: Event): Promise<void> {
    event.preventDefault();
    const formElement = event.target as HTMLFormElement;
    const form = new FormData(formElement);
    this.error = null;
    this.created = "";
    this.busy = true;
    try {
      const body = this.kind === "paper"
        ? { kind: "paper", name: form.get("name"), balances: { [String(form.get("currency")).trim().toUpperCase()]: String(form.get("balance")).trim() }, fee_rate: String(form.get("fee_rate")).trim() }
        : { kind: "exchange", name: form.get("name"), exchange: String(form.get("exchange")), api_key: form.get("api_key"), api_secret: form.get("api_secret"), passphrase: form.get("passphrase") || null };
      const account = await api.post<Account>("/api/accounts", body);
      formElement.reset();
      this.created = `Account “${account.name}” created.`;
      await this.load();
    } catch (error) {
      this.error = error;
    } finally {
      this.busy = false;
    }
  }

  private async disable(account: Account): Promise<void> {
    if (!confirm(`Disable “${account.name}”? Its assignments stop trading; its history is kept.`)) return;
    try {
      await api.delete(`/api/accounts/${account.id}`);
      await this.load();
    } catch (error) {
      this.loadError = error;
    }
  }

  render() {
    const general = this.error && !(this.error instanceof ApiError && this.error.fields.length);
    return html`
      <div class="page-head"><div><h1>Accounts</h1><p>Where assignments trade: paper money, or your exchange account.</p></div></div>
      ${this.loadError ? errorNotice(this.loadError, () => void this.load()) : ""}
      <section class="panel" style="margin-bottom:16px">
        ${this.accounts === null ? loading() : this.accounts.length === 0
          ? empty("No accounts yet", "Create a paper account to trade without risk.")
          : html`<div class="table-wrap"><table>
            <thead><tr><th>Name</th><th>Kind</th><th>Balances / key</th><th class="num">Fee</th><th>Status</th><th>Created</th><th></th></tr></thead>
            <tbody>${this.accounts.map((a) => html`<tr>
              <td>${a.name}</td>
              <td>${a.kind === "paper" ? html`<span class="badge">Paper</span>` : html`<span class="badge ok">${a.exchange}</span>`}</td>
              <td>${a.kind === "paper" ? Object.entries(a.balances).map(([c, v]) => html`<span class="mono">${amount(v, 2)} ${c}</span> `) : html`<span class="mono">key ${a.api_key_hint ?? "hidden"}</span>`}</td>
              <td class="num">${a.fee_rate ? percent(Number(a.fee_rate), false) : "exchange's"}</td>
              <td>${!a.enabled ? html`<span class="badge">disabled</span>` : a.paused_reason ? html`<span class="badge bad" title=${a.paused_reason}>paused</span> <span class="down">${a.paused_reason}</span>` : html`<span class="badge ok">active</span>`}</td>
              <td class="muted">${dateTime(a.created_ms)}</td>
              <td class="num">${a.enabled ? html`<button class="ghost" @click=${() => void this.disable(a)}>Disable</button>` : ""}</td>
            </tr>`)}</tbody></table></div>`}
      </section>
      <section class="panel">
        <h2>Add an account</h2>
        <div class="kinds" role="group" aria-label="Kind of account" style="margin-bottom:14px">
          <button type="button" aria-pressed=${this.kind === "paper" ? "true" : "false"} @click=${() => (this.kind = "paper")}>Paper</button>
          <button type="button" aria-pressed=${this.kind === "exchange" ? "true" : "false"} @click=${() => (this.kind = "exchange")}>Exchange API keys</button>
        </div>
        <form class="form" @submit=${this.submit} novalidate autocomplete="off">
          <div class="form-row">
            <label>Name<input name="name" required placeholder=${this.kind === "paper" ? "Paper" : "Bitfinex main"} aria-invalid=${invalid(this.error, "name")} />${fieldError(this.error, "name")}</label>
            ${this.kind === "paper"
              ? html`<label>Currency<input name="currency" value="USD" /></label>
                <label>Starting balance<input name="balance" value="10000" inputmode="decimal" aria-invalid=${invalid(this.error, "balances")} />${fieldError(this.error, "balances")}</label>
                <label>Fee per trade (fraction)<input name="fee_rate" value="0.001" inputmode="decimal" aria-invalid=${invalid(this.error, "fee_rate")} />${fieldError(this.error, "fee_rate")}</label>`
              : html`<label>Exchange<select name="exchange" aria-invalid=${invalid(this.error, "exchange")}><option value="bitfinex">Bitfinex</option><option value="binance">Binance</option><option value="kraken">Kraken</option><option value="coinbase">Coinbase</option></select>${fieldError(this.error, "exchange")}</label>`}
          </div>
          ${this.kind === "exchange" ? html`<div class="form-row">
            <label>API key<input name="api_key" required spellcheck="false" aria-invalid=${invalid(this.error, "api_key")} />${fieldError(this.error, "api_key")}</label>
            <label>API secret<input name="api_secret" type="password" required spellcheck="false" aria-invalid=${invalid(this.error, "api_secret")} />${fieldError(this.error, "api_secret")}</label>
            <label>Passphrase (if the exchange has one)<input name="passphrase" type="password" spellcheck="false" /></label>
          </div>
          <p class="muted">The keys are checked with a balance request, stored encrypted, and never shown again. Give them trading rights only — never withdrawals.</p>` : ""}
          ${general ? errorNotice(this.error) : ""}
          ${this.created ? html`<div class="notice" role="status">${this.created}</div>` : ""}
          <div class="actions"><button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? (this.kind === "exchange" ? "Checking the keys…" : "Creating…") : "Add account"}</button></div>
        </form>
      </section>
    `;
  }
}
