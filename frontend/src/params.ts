import { ApiError } from "./api";

// Strategy parameters as a person types them: `fast=5, slow=20` <-> {"fast": 5, "slow": 20}.

export type Params = Record<string, number | string | boolean>;

export function parseParams(text: string): Params {
  const params: Params = {};
  for (const part of text.split(/[,\n]/)) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`"${item}" is not name=value`);
    const name = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`"${name}" is not a parameter name`);
    params[name] = raw === "true" ? true : raw === "false" ? false : raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return params;
}

export function formatParams(params: Params): string {
  return Object.entries(params).map(([k, v]) => `${k}=${v}`).join(", ");
}

/** The form's `params` field, or an ApiError naming that field (shown beside it). */
export function formParams(form: FormData): Params {
  try {
    return parseParams(String(form.get("params") ?? ""));
  } catch (error) {
    const message = (error as Error).message;
    throw new ApiError(422, message, [{ field: "params", message }]);
  }
}
