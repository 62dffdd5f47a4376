// The live connection: one WebSocket per tab, reconnecting with back-off, that tells listeners
// of closed candles of the watched market, the user's order events, and price ticks.
import type { CandleRow, Order } from "./types";

export type LiveEvent =
  | { type: "hello"; live: boolean }
  | { type: "candle"; exchange: string; symbol: string; timeframe: string; candle: CandleRow }
  | { type: "order"; order: Partial<Order> & { assignment_id: number; status: string } }
  | { type: "tick"; exchange: string; symbol: string }
  | { type: "error"; message: string };

type Listener = (event: LiveEvent) => void;

export interface Watch {
  exchange: string;
  symbol: string;
  timeframe: string;
}

class LiveConnection {
  private socket?: WebSocket;
  private listeners = new Set<Listener>();
  private watching: Watch | null = null;
  private retry = 500;
  private wanted = false;
  connected = false;

  start(): void {
    this.wanted = true;
    this.open();
  }

  stop(): void {
    this.wanted = false;
    this.socket?.close();
    this.socket = undefined;
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  watch(target: Watch | null): void {
    this.watching = target;
    this.send();
  }

  private send(): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ watch: this.watching }));
  }

  private open(): void {
    if (!this.wanted || typeof WebSocket === "undefined") return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/ws`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.connected = true;
      this.retry = 500;
      this.send();
    };
    socket.onmessage = (message) => {
      let event: LiveEvent;
      try {
        event = JSON.parse(String(message.data)) as LiveEvent;
      } catch {
        return;
      }
      this.listeners.forEach((listener) => listener(event));
    };
    socket.onclose = () => {
      this.connected = false;
      if (this.socket === socket && this.wanted) {
        setTimeout(() => this.open(), this.retry);
        this.retry = Math.min(this.retry * 2, 15_000);
      }
    };
  }
}

export const live = new LiveConnection();
