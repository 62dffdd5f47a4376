// Small pieces every page uses: the loading, empty and error states, and value formatting.
import { html, type TemplateResult } from "lit";
import { ApiError } from "../api";
import { direction, money } from "../format";

export function loading(rows = 3): TemplateResult {
  return html`<div class="grid" aria-busy="true" aria-label="Loading">
    ${Array.from({ length: rows }, () => html`<div class="skeleton" style="height:18px"></div>`)}
  </div>`;
}

export function empty(title: string, text: string, action?: TemplateResult): TemplateResult {
  return html`<div class="empty"><strong>${title}</strong><p>${text}</p>${action ?? ""}</div>`;
}

export function errorNotice(error: unknown, retry?: () => void): TemplateResult {
  const message = error instanceof ApiError || error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && error.status === 404) {
    // Nothing to retry: it does not exist, or it is someone else's (the same answer, on purpose).
    return html`<div class="panel empty" role="alert"><strong>Not found</strong><p>${message}.</p><a href="/">Back to the dashboard</a></div>`;
  }
  return html`<div class="notice error" role="alert">
    ${message} ${retry ? html`<button class="ghost" @click=${retry}>Try again</button>` : ""}
  </div>`;
}

export function pnl(value: string | number | null | undefined, currency: string): TemplateResult {
  const cents = Math.round(Number(value ?? 0) * 100) / 100; // -0.001 shows as $0.00, so not red
  return html`<span class=${direction(cents)}>${money(cents, currency, true)}</span>`;
}

export function positionBadge(position: string): TemplateResult {
  return html`<span class="badge ${position}">${position === "long" ? "Long" : "Cash"}</span>`;
}

export function statusBadge(status: string): TemplateResult {
  const kind = ["filled", "done"].includes(status) ? "ok" : ["failed", "rejected"].includes(status) ? "bad" : ["pending", "open", "queued", "running"].includes(status) ? "warn" : "";
  return html`<span class="badge ${kind}">${status}</span>`;
}

export function fieldError(error: unknown, field: string): TemplateResult | string {
  if (!(error instanceof ApiError)) return "";
  const message = error.fieldMessage(field);
  return message ? html`<span class="field-error" id="${field}-error">${message}</span>` : "";
}

export function invalid(error: unknown, field: string): "true" | "false" {
  return error instanceof ApiError && error.fieldMessage(field) ? "true" : "false";
}
