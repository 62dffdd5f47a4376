// Signing in and signing up: one form, two modes.
import { LitElement, css, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { api } from "../api";
import { fieldError, invalid } from "../components/ui";
import { icons } from "../components/icons";
import { navigate } from "../router";
import { session } from "../session";
import { theme } from "../styles";
import type { User } from "../types";

@customElement("tw-signin-page")
export class SigninPage extends LitElement {
  static styles = [
    theme,
    css`
      :host { display: block; width: min(420px, 100%); }
      .brand { display: flex; align-items: center; gap: 10px; font-size: 20px; font-weight: 700; margin-bottom: 22px; justify-content: center; }
      .panel { padding: 28px; }
      h1 { margin-bottom: 6px; }
      .lead { color: var(--muted); margin-bottom: 20px; }
      .switch { margin-top: 18px; text-align: center; color: var(--muted); }
      button.primary { width: 100%; justify-content: center; min-height: 40px; }
      .pitch { margin-top: 22px; color: var(--faint); font-size: 12.5px; text-align: center; }
    `,
  ];

  @property() mode: "signin" | "signup" = "signin";
  @state() private error: unknown = null;
  @state() private busy = false;

  private async submit(event: Event): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const body = { email: String(form.get("email") ?? ""), password: String(form.get("password") ?? "") };
    this.busy = true;
    this.error = null;
    try {
      const user = await api.post<User>(this.mode === "signup" ? "/api/auth/signup" : "/api/auth/login", body);
      session.set(user);
      navigate("/", true);
    } catch (error) {
      this.error = error;
    } finally {
      this.busy = false;
    }
  }

  render() {
    const signup = this.mode === "signup";
    return html`
      <div class="brand">${icons.logo} Tradewinds</div>
      <div class="panel">
        <h1>${signup ? "Create your account" : "Sign in"}</h1>
        <p class="lead">${signup ? "Write a strategy, backtest it, and let it trade on paper in minutes." : "Welcome back to your trading desk."}</p>
        <form class="form" @submit=${this.submit} novalidate>
          <label>Email
            <input name="email" type="email" autocomplete="email" required aria-invalid=${invalid(this.error, "email")} aria-describedby="email-error" />
            ${fieldError(this.error, "email")}
          </label>
          <label>Password
            <input name="password" type="password" autocomplete=${signup ? "new-password" : "current-password"} required minlength=${signup ? 8 : 1}
              aria-invalid=${invalid(this.error, "password")} aria-describedby="password-error" />
            ${fieldError(this.error, "password")}
          </label>
          ${this.error && !(invalid(this.error, "email") === "true" || invalid(this.error, "password") === "true")
            ? html`<div class="notice error" role="alert">${(this.error as Error).message}</div>` : ""}
          <button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? "One moment…" : signup ? "Create account" : "Sign in"}</button>
        </form>
        <p class="switch">${signup ? html`Already have an account? <a href="/signin">Sign in</a>` : html`New to Tradewinds? <a href="/signup">Create an account</a>`}</p>
      </div>
      <p class="pitch">Strategies run in a sandbox. Exchange keys are stored encrypted and never shown again.</p>
    `;
  }
}
