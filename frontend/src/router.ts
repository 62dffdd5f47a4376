// Client-side routes: the server answers every non-API path with the desk's page, and the desk
// picks the view from the path. Links are plain <a href>; clicks on them are turned into
// history navigation so the page does not reload.

export interface Route {
  name: string;
  params: Record<string, string>;
  query: URLSearchParams;
}

const PATTERNS: [string, RegExp][] = [
  ["signin", /^\/signin$/],
  ["signup", /^\/signup$/],
  ["dashboard", /^\/$/],
  ["strategies", /^\/strategies$/],
  ["strategy-new", /^\/strategies\/new$/],
  ["strategy", /^\/strategies\/(?<id>\d+)$/],
  ["backtests", /^\/backtests$/],
  ["backtest", /^\/backtests\/(?<id>\d+)$/],
  ["markets", /^\/markets$/],
  ["market", /^\/markets\/(?<exchange>[^/]+)\/(?<base>[^/]+)\/(?<quote>[^/]+)$/],
  ["accounts", /^\/accounts$/],
  ["assignments", /^\/assignments$/],
  ["assignment", /^\/assignments\/(?<id>\d+)$/],
  ["orders", /^\/orders$/],
  ["settings", /^\/settings$/],
];

export function match(pathname: string, search = ""): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  for (const [name, pattern] of PATTERNS) {
    const found = pattern.exec(path);
    if (found) {
      const params: Record<string, string> = {};
      for (const [key, value] of Object.entries(found.groups ?? {})) params[key] = decodeURIComponent(value);
      return { name, params, query: new URLSearchParams(search) };
    }
  }
  return { name: "not-found", params: {}, query: new URLSearchParams(search) };
}

export function marketPath(exchange: string, symbol: string): string {
  const [base, quote] = symbol.split("/");
  return `/markets/${encodeURIComponent(exchange)}/${encodeURIComponent(base ?? symbol)}/${encodeURIComponent(quote ?? "")}`;
}

const listeners = new Set<(route: Route) => void>();

export function current(): Route {
  return match(location.pathname, location.search);
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  const route = current();
  listeners.forEach((listener) => listener(route));
  window.scrollTo?.(0, 0);
}

export function onRoute(listener: (route: Route) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

window.addEventListener("popstate", () => {
  const route = current();
  listeners.forEach((listener) => listener(route));
});

/** Follow same-origin links without reloading (links inside shadow roots included). */
export function interceptLinks(root: Document | ShadowRoot = document): void {
  root.addEventListener("click", (event) => {
    const mouse = event as MouseEvent;
    if (mouse.defaultPrevented || mouse.button !== 0 || mouse.metaKey || mouse.ctrlKey || mouse.shiftKey || mouse.altKey) return;
    const anchor = mouse.composedPath().find((node): node is HTMLAnchorElement => node instanceof HTMLAnchorElement);
    if (!anchor || anchor.target || anchor.hasAttribute("download")) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
