// Who is signed in. Components read `session.user` and re-render on `session.subscribe`.
import { api, onSignedOut } from "./api";
import type { User } from "./types";

type Listener = (user: User | null) => void;

class Session {
  user: User | null = null;
  private listeners = new Set<Listener>();

  async load(): Promise<User | null> {
    try {
      this.set(await api.get<User>("/api/me"));
    } catch {
      this.set(null);
    }
    return this.user;
  }

  set(user: User | null): void {
    this.user = user;
    this.listeners.forEach((listener) => listener(user));
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async signOut(): Promise<void> {
    try {
      await api.post("/api/auth/logout");
    } finally {
      this.set(null);
    }
  }
}

export const session = new Session();
onSignedOut(() => session.set(null));
