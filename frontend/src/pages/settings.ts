// The user's password and personal API tokens; the platform's health for administrators.
import { LitElement, html } from "lit";
import { customElement, state } from "lit/decorators.js";
import { ApiError, api } from "../api";
import { errorNotice, fieldError, invalid } from "../components/ui";
import { ago, dateTime } from "../format";
import { session } from "../session";
import { theme } from "../styles";
import type { ApiTokenInfo } from "../types";

interface Health {
  database: string;
  bus: string;
  components: { component: string; instance: string; host: string; pid: number; age_s: number }[];
  users: number;
  enabled_assignments: number;
  orders_last_hour: number;
  failed_orders_last_hour: number;
}

@customElement("tw-settings-page")
export class SettingsPage extends LitElement {
  static styles = [theme];

  @state() private tokens: ApiTokenInfo[] = [];
  @state() private fresh: ApiTokenInfo | null = null;
  @state() private health: Health | null = null;
  @state() private passwordError: unknown = null;
  @state() private passwordDone = false;
  @state() private error: unknown = null;

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.tokens = await api.get<ApiTokenInfo[]>("/api/tokens");
      if (session.user?.is_admin) this.health = await api.get<Health>("/api/admin/health");
    } catch (error) {
      this.error = error;
    }
  }

  private async changePassword(event: Event): Promise<void> {
    event.preventDefault();
    const element = event.target as HTMLFormElement;
    const form = new FormData(element);
    this.passwordError = null;
    this.passwordDone = false;
    if (form.get("new_password") !== form.get("confirm")) {
      this.passwordError = new ApiError(422, "the two new passwords differ", [{ field: "confirm", message: "the two new passwords differ" }]);
      return;
    }
    try {
      await api.post("/api/me/password", { current_password: form.get("current_password"), new_password: form.get("new_password") });
      element.reset();
      this.passwordDone = true;
    } catch (error) {
      this.passwordError = error;
    }
  }

  private async createToken(event: Event): Promise<void> {
    event.preventDefault();
    const element = event.target as HTMLFormElement;
    try {
      this.fresh = await api.post<ApiTokenInfo>("/api/tokens", { name: String(new FormData(element).get("name") || "script") });
      element.reset();
      await this.load();
    } catch (error) {
      this.error = error;
    }
  }

  private async revoke(token: ApiTokenInfo): Promise<void> {
    if (!confirm(`Revoke “${token.name}”? Scripts using it stop working at once.`)) return;
    await api.delete(`/api/tokens/${token.id}`);
    await this.load();
  }

  render() {
    return html`
      <div class="page-head"><div><h1>Settings</h1><p>${session.user?.email}</p></div></div>
      ${this.error ? errorNotice(this.error) : ""}
      <div class="grid" style="grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); align-items: start;">
        <section class="panel">
          <h2>Change password</h2>
          <form class="form" @submit=${this.changePassword} novalidate>
            <label>Current password<input name="current_password" type="password" autocomplete="current-password" aria-invalid=${invalid(this.passwordError, "current_password")} />${fieldError(this.passwordError, "current_password")}</label>
            <label>New password (8 characters or more)<input name="new_password" type="password" autocomplete="new-password" aria-invalid=${invalid(this.passwordError, "new_password")} />${fieldError(this.passwordError, "new_password")}</label>
            <label>New password again<input name="confirm" type="password" autocomplete="new-password" aria-invalid=${invalid(this.passwordError, "confirm")} />${fieldError(this.passwordError, "confirm")}</label>
            ${this.passwordDone ? html`<div class="notice" role="status">Password changed. Other browsers were signed out.</div>` : ""}
            <div class="actions"><button class="primary" type="submit">Change password</button></div>
          </form>
        </section>
        <section class="panel">
          <h2>API tokens</h2>
          <p class="muted">For scripts: <span class="mono">Authorization: Bearer &lt;token&gt;</span> on any /api route.</p>
          ${this.fresh?.token ? html`<div class="notice" role="status" style="margin-bottom:10px">Copy it now — it is not shown again:<div class="mono" data-testid="new-token" style="word-break:break-all;color:var(--text);margin-top:6px">${this.fresh.token}</div></div>` : ""}
          <form class="actions" @submit=${this.createToken} style="margin-bottom:12px"><input name="name" placeholder="Token name" style="flex:1" /><button type="submit">Create token</button></form>
          ${this.tokens.length === 0 ? html`<p class="muted">No tokens.</p>` : html`<table><tbody>${this.tokens.map((t) => html`<tr>
            <td>${t.name}<div class="muted mono">${t.prefix}…</div></td><td class="muted">created ${dateTime(t.created_ms)}<br />used ${ago(t.last_used_ms)}</td>
            <td class="num"><button class="ghost" @click=${() => void this.revoke(t)}>Revoke</button></td></tr>`)}</tbody></table>`}
        </section>
        ${this.health ? html`<section class="panel">
          <h2>Platform health</h2>
          <table><tbody>
            <tr><td>Database</td><td>${this.health.database}</td></tr>
            <tr><td>Bus</td><td>${this.health.bus}</td></tr>
            <tr><td>Users</td><td>${this.health.users}</td></tr>
            <tr><td>Enabled assignments</td><td>${this.health.enabled_assignments}</td></tr>
            <tr><td>Orders last hour</td><td>${this.health.orders_last_hour} (${this.health.failed_orders_last_hour} failed)</td></tr>
          </tbody></table>
          <h3 style="margin-top:14px">Components</h3>
          ${this.health.components.length === 0 ? html`<p class="muted">None announced.</p>` : html`<table><tbody>${this.health.components.map((c) => html`<tr><td>${c.component}</td><td class="mono muted">${c.host}:${c.pid}</td><td class="muted">up ${Math.round(c.age_s / 60)} min</td></tr>`)}</tbody></table>`}
        </section>` : ""}
      </div>
    `;
  }
}
