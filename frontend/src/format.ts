// Numbers as a trader reads them: money with its currency, a sign where it is a change, thousands
// separated; amounts of an asset with the digits they need; times in the user's zone.

const moneyFormats = new Map<string, Intl.NumberFormat>();

// Intl knows ISO 4217 codes; coins and stablecoins (USDT, BTC) are written after the number.
function isIsoCurrency(code: string): boolean {
  if (!/^[A-Z]{3}$/.test(code)) return false;
  try {
    new Intl.NumberFormat("en-US", { style: "currency", currency: code });
    return !["BTC", "ETH", "XRP", "LTC", "EOS", "UST"].includes(code);
  } catch {
    return false;
  }
}

function moneyFormat(currency: string, signed: boolean, iso: boolean): Intl.NumberFormat {
  const key = `${currency}|${signed}`;
  let format = moneyFormats.get(key);
  if (!format) {
    const options: Intl.NumberFormatOptions = {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
      signDisplay: signed ? "exceptZero" : "auto",
    };
    format = new Intl.NumberFormat("en-US", iso ? { ...options, style: "currency", currency } : options);
    moneyFormats.set(key, format);
  }
  return format;
}

/** `1234.5, "USD"` -> `$1,234.50`; with `signed`, `+$1,234.50` / `-$3.00`. Non-ISO codes follow the number. */
export function money(value: string | number | null | undefined, currency = "USD", signed = false): string {
  if (value === null || value === undefined || value === "") return "—";
  const number = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(number)) return "—";
  const iso = isIsoCurrency(currency);
  const text = moneyFormat(currency, signed, iso).format(number);
  return iso ? text : `${text} ${currency}`;
}

/** An amount of an asset: up to 8 decimals, trailing zeros dropped, thousands separated. */
export function amount(value: string | number | null | undefined, digits = 8): string {
  if (value === null || value === undefined || value === "") return "—";
  const number = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(number)) return "—";
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }).format(number);
}

/** A price: enough significant digits for small coins, two decimals for large ones. */
export function price(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const number = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(number)) return "—";
  const digits = Math.abs(number) >= 1000 ? 2 : Math.abs(number) >= 1 ? 4 : 8;
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: digits, minimumFractionDigits: Math.min(2, digits) }).format(number);
}

/** A fraction as a signed percentage: `0.0123` -> `+1.23%`. */
export function percent(fraction: number | string | null | undefined, signed = true): string {
  if (fraction === null || fraction === undefined || fraction === "") return "—";
  const number = typeof fraction === "number" ? fraction : Number(fraction);
  if (!Number.isFinite(number)) return "—";
  return new Intl.NumberFormat("en-US", {
    style: "percent",
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
    signDisplay: signed ? "exceptZero" : "auto",
  }).format(number);
}

/** -1, 0 or 1: the CSS class a change gets (`down`, `flat`, `up`). */
export function direction(value: string | number | null | undefined): "up" | "down" | "flat" {
  const number = typeof value === "number" ? value : Number(value ?? 0);
  if (!Number.isFinite(number) || number === 0) return "flat";
  return number > 0 ? "up" : "down";
}

/** Epoch ms as `2026-12-01 14:05` in the viewer's time zone (UTC when asked). */
export function dateTime(ms: number | null | undefined, utc = false): string {
  if (ms === null || ms === undefined) return "—";
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return "—";
  const parts = new Intl.DateTimeFormat("en-CA", {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
    timeZone: utc ? "UTC" : undefined,
  }).formatToParts(date);
  const get = (type: string) => parts.find((part) => part.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
}

/** How long ago, in words a glance can read: `just now`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return "never";
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

/** The quote currency of a unified symbol: `BTC/USD` -> `USD`. */
export function quoteOf(symbol: string): string {
  return symbol.split("/")[1]?.split(":")[0] ?? "USD";
}

export function baseOf(symbol: string): string {
  return symbol.split("/")[0] ?? symbol;
}
