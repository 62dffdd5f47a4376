import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, errorFrom, readCookie } from "./api";

afterEach(() => {
  vi.unstubAllGlobals();
  document.cookie = "tw_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});

describe("errors", () => {
  it("keeps the server's message and field errors", () => {
    const error = errorFrom(422, { message: "email: not an email address", errors: [{ field: "email", message: "not an email address" }] });
    expect(error.message).toBe("email: not an email address");
    expect(error.fieldMessage("email")).toBe("not an email address");
  });
  it("explains statuses without a body", () => {
    expect(errorFrom(429, null).message).toMatch(/Too many attempts/);
    expect(errorFrom(503, null).message).toMatch(/try again/);
  });
});

describe("requests", () => {
  it("reads cookies", () => {
    expect(readCookie("b", "a=1; b=x%20y")).toBe("x y");
    expect(readCookie("c", "a=1")).toBeUndefined();
  });

  it("sends the CSRF cookie as a header on writes, not on reads", async () => {
    document.cookie = "tw_csrf=token123";
    const fetch = vi.fn(async () => new Response("{}", { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    await api.post("/api/strategies", { name: "x" });
    await api.get("/api/strategies", { limit: 5, q: "" });
    const calls = fetch.mock.calls as unknown as [string, RequestInit][];
    expect((calls[0]![1].headers as Record<string, string>)["X-CSRF-Token"]).toBe("token123");
    expect((calls[1]![1].headers as Record<string, string>)["X-CSRF-Token"]).toBeUndefined();
    expect(calls[1]![0]).toBe("/api/strategies?limit=5");
  });

  it("turns a failed response into an ApiError", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ detail: "strategy 9 not found" }), { status: 404 })));
    await expect(api.get("/api/strategies/9")).rejects.toEqual(new ApiError(404, "strategy 9 not found"));
  });

  it("says so when the server cannot be reached", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => { throw new TypeError("failed"); }));
    await expect(api.get("/api/me")).rejects.toThrow(/cannot be reached/);
  });
});

describe("everyItem", () => {
  it("reads page after page until the total", async () => {
    const pages = [
      { items: Array.from({ length: 500 }, (_, i) => i), total: 700, offset: 0, limit: 500 },
      { items: Array.from({ length: 200 }, (_, i) => 500 + i), total: 700, offset: 500, limit: 500 },
    ];
    const fetch = vi.fn(async () => new Response(JSON.stringify(pages.shift()), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const { everyItem } = await import("./api");
    const items = await everyItem<number>("/api/markets");
    expect(items.length).toBe(700);
    expect(fetch).toHaveBeenCalledTimes(2);
  });
});
