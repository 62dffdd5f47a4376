// What the API returns (mirrors tradewinds/web/schemas.py). Money and amounts are decimal strings.

export interface User {
  id: number;
  email: string;
  is_admin: boolean;
  trading_paused: boolean;
}

export interface Strategy {
  id: number;
  name: string;
  latest_version: number;
  created_ms: number;
  updated_ms: number;
}

export interface StrategyVersion {
  id: number;
  strategy_id: number;
  number: number;
  source: string;
  created_ms: number;
}

export interface Problem {
  line: number | null;
  message: string;
}

export interface CheckResult {
  ok: boolean;
  errors: Problem[];
  warnings: Problem[];
  params: string[];
}

export interface Template {
  id: string;
  name: string;
  description: string;
  source: string;
}

export interface Account {
  id: number;
  name: string;
  kind: "paper" | "exchange";
  exchange: string | null;
  balances: Record<string, string>;
  fee_rate: string | null;
  slippage: string | null;
  api_key_hint: string | null;
  paused_reason: string | null;
  enabled: boolean;
  created_ms: number;
}

export interface LastEvaluation {
  candle_time_ms: number | null;
  result: string | null;
  error: string | null;
  evaluated_ms: number | null;
}

export interface Assignment {
  id: number;
  strategy_id: number;
  strategy: string;
  version_id: number;
  version: number;
  exchange: string;
  symbol: string;
  timeframe: string;
  account_id: number;
  account: string;
  allocation: string;
  params: Record<string, number | string | boolean>;
  enabled: boolean;
  disabled_reason: string | null;
  position: "long" | "short";
  base_held: string;
  quote_held: string;
  realized_pnl: string;
  unrealized_pnl: string;
  fees: string;
  equity: string;
  last_price: string | null;
  last_evaluation: LastEvaluation | null;
  created_ms: number;
}

export interface Order {
  id: number;
  assignment_id: number;
  client_order_id: number;
  candle_time_ms: number;
  exchange: string;
  symbol: string;
  side: "buy" | "sell";
  amount: string;
  filled: string;
  price: string | null;
  fee: string;
  fee_currency: string | null;
  status: "pending" | "open" | "filled" | "canceled" | "rejected" | "failed";
  error: string | null;
  created_ms: number;
  updated_ms: number;
}

export type CandleRow = [number, number, number, number, number, number];

export interface Trade {
  time_ms: number;
  side: "buy" | "sell";
  price: number;
  units: number;
  fee: number;
}

export interface BacktestMetrics {
  final_equity: number;
  total_return: number;
  buy_hold_return: number;
  trades: number;
  win_rate: number;
  max_drawdown: number;
  sharpe: number;
  exposure: number;
  warmup_candles: number;
}

export interface BacktestResult {
  metrics: BacktestMetrics;
  trades: Trade[];
  equity: [number, number][];
  buy_hold: [number, number][];
  candles: CandleRow[];
  notes: string[];
  logs: string[];
}

export interface Backtest {
  id: number;
  status: "queued" | "running" | "done" | "failed" | "canceled";
  progress: number;
  error: string | null;
  strategy: string;
  strategy_id: number;
  version: number;
  version_id: number;
  exchange: string | null;
  symbol: string | null;
  upload_name: string | null;
  timeframe: string;
  since_ms: number | null;
  until_ms: number | null;
  cash: string;
  fee: string;
  params: Record<string, number | string | boolean>;
  created_ms: number;
  finished_ms: number | null;
  metrics: BacktestMetrics | null;
  result: BacktestResult | null;
}

export interface Market {
  exchange: string;
  symbol: string;
  timeframes: string[];
  last_price: number | null;
  change_24h: number | null;
  volume_24h: number | null;
  last_time_ms: number | null;
  streamed: boolean;
}

export interface Dashboard {
  currency: string;
  total_equity: string;
  total_allocation: string;
  total_pnl: string;
  equity: [number, number][];
  assignments: Assignment[];
  recent_orders: Order[];
  recent_errors: { assignment_id: number; strategy: string; message: string; candle_time_ms: number | null }[];
  trading_paused: boolean;
}

export interface ApiTokenInfo {
  id: number;
  name: string;
  prefix: string;
  created_ms: number;
  last_used_ms: number | null;
  token?: string;
}
