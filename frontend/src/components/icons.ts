// Line icons drawn inline (nothing is fetched from elsewhere).
import { svg } from "lit";

const path = (d: string) => svg`<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${svg`<path d=${d}></path>`}</svg>`;

export const icons = {
  logo: svg`<svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true"><rect width="32" height="32" rx="8" fill="#0ea5e9"/><path d="M6 21 L12.5 13.5 L17.5 18 L26 9" stroke="#04121f" stroke-width="3.2" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>`,
  dashboard: path("M4 13h6V4H4zM14 20h6v-9h-6zM4 20h6v-4H4zM14 4v4h6V4z"),
  strategies: path("M8 6l-5 6 5 6M16 6l5 6-5 6M13.5 4l-3 16"),
  backtests: path("M3 3v18h18M7 15l4-4 3 3 6-7"),
  markets: path("M6 3v18M6 7H4v8h2M18 3v18M18 9h-2v6h2M12 5v14M12 9h-2v4h2"),
  accounts: path("M3 7h18v12H3zM3 11h18M16 15h2"),
  assignments: path("M4 6h16M4 12h10M4 18h6M17 15l3 3-3 3"),
  orders: path("M6 3h12v18l-3-2-3 2-3-2-3 2zM9 8h6M9 12h6"),
  settings: path("M12 15a3 3 0 100-6 3 3 0 000 6zM19.4 15a1.6 1.6 0 00.3 1.8l.1.1a2 2 0 11-2.8 2.8l-.1-.1a1.6 1.6 0 00-2.7 1.1V21a2 2 0 11-4 0v-.1a1.6 1.6 0 00-2.7-1.1l-.1.1a2 2 0 11-2.8-2.8l.1-.1A1.6 1.6 0 004.6 15H4.5a2 2 0 110-4h.1a1.6 1.6 0 001.1-2.7l-.1-.1a2 2 0 112.8-2.8l.1.1A1.6 1.6 0 0011 4.6V4.5a2 2 0 114 0v.1a1.6 1.6 0 002.7 1.1l.1-.1a2 2 0 112.8 2.8l-.1.1a1.6 1.6 0 001.1 2.7h.1a2 2 0 110 4z"),
  pause: path("M9 5v14M15 5v14"),
  play: path("M7 5l12 7-12 7z"),
  plus: path("M12 5v14M5 12h14"),
};
