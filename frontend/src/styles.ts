// The desk's look, shared by every component: a dark, dense, calm palette where green and red
// mean only up and down, and focus is always visible for keyboard users.
import { css } from "lit";

export const theme = css`
  :host {
    --bg: #0b1220;
    --panel: #111a2e;
    --panel-2: #16213a;
    --line: #223052;
    --text: #e2e8f0;
    --muted: #8da2c0;
    --faint: #5b6f8f;
    --accent: #38bdf8;
    --accent-2: #0ea5e9;
    --up: #22c55e;
    --down: #f43f5e;
    --warn: #f59e0b;
    --radius: 10px;
    --mono: ui-monospace, "JetBrains Mono", "SFMono-Regular", Menlo, Consolas, monospace;
    color: var(--text);
    font: 14px/1.45 Inter, ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  *, *::before, *::after { box-sizing: border-box; }
  h1 { font-size: 22px; font-weight: 650; margin: 0; letter-spacing: -0.01em; }
  h2 { font-size: 15px; font-weight: 600; margin: 0 0 12px; color: var(--text); }
  h3 { font-size: 13px; font-weight: 600; margin: 0 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.06em; }
  p { margin: 0 0 8px; }
  a { color: var(--accent); text-decoration: none; }
  a:hover { text-decoration: underline; }
  :focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; border-radius: 4px; }
  .page-head { display: flex; align-items: center; justify-content: space-between; gap: 12px; margin-bottom: 18px; flex-wrap: wrap; }
  .page-head p { color: var(--muted); margin: 4px 0 0; }
  .panel { background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding: 16px; }
  .grid { display: grid; gap: 16px; }
  .cards { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); }
  .split { display: grid; gap: 16px; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); align-items: start; }
  .card { background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding: 14px 16px; }
  .card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em; }
  .card .value { font-size: 22px; font-weight: 650; margin-top: 4px; font-variant-numeric: tabular-nums; }
  .num { font-variant-numeric: tabular-nums; text-align: right; white-space: nowrap; }
  .mono { font-family: var(--mono); font-size: 12.5px; }
  .up { color: var(--up); }
  .down { color: var(--down); }
  .flat { color: var(--muted); }
  .muted { color: var(--muted); }
  .error-text { color: var(--down); }
  table { width: 100%; border-collapse: collapse; }
  th { text-align: left; font-weight: 500; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em; padding: 8px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  td { padding: 9px 10px; border-bottom: 1px solid #1a2644; vertical-align: middle; }
  tr:last-child td { border-bottom: none; }
  tbody tr:hover { background: #141f37; }
  th.num, td.num { text-align: right; }
  .table-wrap { overflow-x: auto; }
  button, .button {
    font: inherit; font-weight: 550; border-radius: 8px; border: 1px solid var(--line); background: var(--panel-2);
    color: var(--text); padding: 8px 14px; cursor: pointer; display: inline-flex; align-items: center; gap: 6px; min-height: 36px;
  }
  button:hover:not(:disabled) { border-color: #34467a; background: #1b2846; }
  button:disabled { opacity: 0.55; cursor: not-allowed; }
  button.primary { background: var(--accent-2); border-color: var(--accent-2); color: #04121f; }
  button.primary:hover:not(:disabled) { background: var(--accent); border-color: var(--accent); }
  button.danger { color: #fecdd3; border-color: #5b2334; background: #2a1220; }
  button.ghost { background: transparent; border-color: transparent; color: var(--muted); }
  label { display: grid; gap: 6px; color: var(--muted); font-size: 12.5px; }
  input, select, textarea {
    font: inherit; color: var(--text); background: #0d1628; border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; min-height: 36px; width: 100%;
  }
  input:focus, select:focus, textarea:focus { border-color: var(--accent); outline: none; box-shadow: 0 0 0 3px rgba(56, 189, 248, 0.18); }
  input[aria-invalid="true"], select[aria-invalid="true"] { border-color: var(--down); }
  .field-error { color: var(--down); font-size: 12px; }
  .form { display: grid; gap: 14px; }
  .form-row { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); }
  .actions { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
  .badge { display: inline-flex; align-items: center; gap: 6px; padding: 2px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; border: 1px solid var(--line); color: var(--muted); white-space: nowrap; }
  .badge.long { color: var(--up); border-color: #1f5137; background: #0f2a1d; }
  .badge.short { color: #cbd5e1; border-color: #334155; background: #172033; }
  .badge.ok { color: var(--up); border-color: #1f5137; }
  .badge.bad { color: var(--down); border-color: #5b2334; background: #2a1220; }
  .badge.warn { color: var(--warn); border-color: #5c4311; background: #2a1f0b; }
  .notice { border: 1px solid var(--line); background: var(--panel-2); padding: 10px 12px; border-radius: 8px; color: var(--muted); }
  .notice.error { border-color: #5b2334; background: #2a1220; color: #fecdd3; }
  .empty { text-align: center; padding: 36px 16px; color: var(--muted); }
  .empty strong { display: block; color: var(--text); font-size: 15px; margin-bottom: 6px; }
  .skeleton { background: linear-gradient(90deg, #141f37 0%, #1b2846 50%, #141f37 100%); background-size: 200% 100%; animation: shimmer 1.2s infinite; border-radius: 6px; min-height: 14px; }
  @keyframes shimmer { from { background-position: 200% 0; } to { background-position: -200% 0; } }
  @media (max-width: 860px) {
    .split { grid-template-columns: 1fr; }
  }
  @media (max-width: 720px) {
    .panel { padding: 12px; }
    .card .value { font-size: 18px; }
    td, th { padding: 7px 6px; }
    .hide-narrow { display: none; }
  }
`;
