"""The main journey in a real browser (Playwright driving Debian's Chromium) against the whole
platform (`tradewinds up`: sim exchange, core, workers, execution, web), with a screenshot of each
step in tests/artifacts/screenshots/ and the desk's speed printed as a benchmark.

Sign up, write the paper's strategy, see a typo reported at its line, backtest it and see trade
markers, create a paper account, assign the strategy to a simulated market, and watch its first
trade on the dashboard and on the chart. Then: another user sees none of it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
DESK = Path(__file__).resolve().parents[2] / "src" / "tradewinds" / "web" / "static" / "index.html"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
PASSWORD = "correct horse battery"
EMAIL = "trader@example.com"
TYPO = "if sma() > em() then"
# The market page's chart element, through the shadow roots (any step may not exist yet).
CHART = (
    "document.querySelector('tw-app')?.shadowRoot?.querySelector('tw-market-view')"
    "?.shadowRoot?.querySelector('tw-candle-chart')"
)

pytestmark = pytest.mark.slow


def _why_not() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (Debian's chromium; `make test` installs it as root)"
    if not DESK.exists():
        return "the web desk is not built (`make frontend`)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _minutes_csv(path: Path, n: int) -> None:
    """n one-minute candles, a slow random walk, ending well before now."""
    import numpy as np

    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[close[0], close[:-1]]
    start = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
    with path.open("w") as out:
        out.write("timestamp_ms,open,high,low,close,volume\n")
        for i in range(n):
            hi, lo = max(open_[i], close[i]) * 1.0005, min(open_[i], close[i]) * 0.9995
            out.write(f"{start + i * 60_000},{open_[i]:.6f},{hi:.6f},{lo:.6f},{close[i]:.6f},{1 + i % 5}\n")


@pytest.fixture(scope="module")
def platform_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reason = _why_not()
    if reason:
        print(f"\nbrowser tests skipped: {reason}", file=sys.stderr)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("browser")
    env = {**os.environ, "TRADEWINDS_HOME": str(folder / "home")}
    env.pop("TRADEWINDS_NATS_URL", None)
    env.pop("TRADEWINDS_DATABASE_URL", None)
    tradewinds = [sys.executable, "-m", "tradewinds.cli"]
    subprocess.run([*tradewinds, "db", "upgrade"], env=env, check=True, capture_output=True)
    _minutes_csv(folder / "long.csv", 10_000)
    market = ["--exchange", "bitfinex", "--symbol", "BTC/USD", "--timeframe", "1m"]
    subprocess.run(
        [*tradewinds, "data", "import", str(folder / "long.csv"), *market],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = (folder / "up.log").open("wb")
    up = subprocess.Popen(
        [*tradewinds, "up", "--web-port", str(port), "--every", "5"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    import httpx

    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise AssertionError(f"tradewinds up exited: {(folder / 'up.log').read_text()}")
        try:
            if httpx.get(f"{url}/api/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        raise AssertionError("the web desk did not come up within 60 s")
    _wait_for_sim_markets(url, deadline=time.monotonic() + 60)
    yield url
    up.terminate()
    try:
        up.wait(30)
    except subprocess.TimeoutExpired:
        up.kill()
    log.close()


def _wait_for_sim_markets(url: str, deadline: float) -> None:
    """Until the simulated markets have stored candles (the desk lists markets with candles)."""
    import httpx

    with httpx.Client(base_url=url, timeout=10) as client:
        client.post("/api/auth/signup", json={"email": "watcher@example.com", "password": PASSWORD})
        while time.monotonic() < deadline:
            markets = client.get("/api/markets", params={"exchange": "sim"}).json()
            if any(m["symbol"] == "ALPHA/USD" and m["last_price"] for m in markets.get("items", [])):
                return
            time.sleep(0.5)
    raise AssertionError("the simulated markets stored no candles within 60 s")


def run_in_browser(scenario: str, platform_url: str) -> str:
    """Run a scenario of this module in a browser driven from a child process; its output.

    Driven from inside the pytest process, Chromium's requests to the desk stalled after a few
    page loads (seen repeatedly, not understood); from a process of its own the same steps pass."""
    command = [sys.executable, "-m", "tests.web.test_browser", scenario, platform_url]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=420, cwd=Path(__file__).parents[2]
    )
    print(result.stdout, result.stderr[-4000:], sep="\n")
    assert result.returncode == 0, f"{scenario} failed in the browser (screenshots in {ARTIFACTS})"
    return result.stdout


def shot(page: Any, name: str, full: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


def replace_source(page: Any, text: str) -> None:
    page.click(".cm-content")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_the_main_journey(platform_url: str) -> None:
    assert "BENCHMARK desk" in run_in_browser("journey", platform_url)


def test_another_user_sees_none_of_it(platform_url: str) -> None:
    run_in_browser("stranger", platform_url)


def test_keyboard_alone_reaches_the_pages(platform_url: str) -> None:
    run_in_browser("keyboard", platform_url)


def main_journey(browser: Any, platform_url: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        journey(browser, context, page, platform_url)
    except Exception:
        shot(page, "failure")
        raise
    finally:
        context.close()


def journey(browser: Any, context: Any, page: Any, platform_url: str) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    # Sign up.
    page.goto(f"{platform_url}/signup")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    shot(page, "01-sign-up")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=total-equity]")
    shot(page, "02-empty-dashboard")

    # Write the paper's strategy with a typo: the check points at its line.
    page.goto(f"{platform_url}/strategies/new?template=paper_example")
    page.wait_for_selector(".cm-content:has-text('ta.ema(10)')")
    source = page.locator(".cm-content").inner_text()
    broken = source.replace("if sma() > ema() then", TYPO)
    replace_source(page, broken)
    page.click("button:has-text('Check')")
    problem = page.wait_for_selector("[data-testid=problem]")
    assert problem.inner_text().startswith("Line 6:"), problem.inner_text()
    assert "em" in problem.inner_text()
    page.wait_for_selector(".cm-lintRange-error, .cm-lintRange-warning")
    shot(page, "03-typo-at-its-line")
    replace_source(page, source)
    page.click("button:has-text('Check')")
    page.wait_for_selector("[data-testid=check-ok]")
    page.fill("input[placeholder='e.g. SMA crossover']", "Paper example")
    page.click("button.primary:has-text('Save')")
    page.wait_for_url("**/strategies/*")
    page.wait_for_selector("text=Version 1")
    shot(page, "04-saved")

    # A second save is a second version; the history shows what changed.
    page.wait_for_selector(".cm-content:has-text('ta.sma(10)')")
    replace_source(page, source.replace("ta.sma(10)", "ta.sma(12)"))
    page.click("button.primary:has-text('Save')")
    page.wait_for_selector("text=Saved as version 2.")
    page.click("button:has-text('v2')")
    diff = page.wait_for_selector("text=Version 1 → 2")
    assert diff is not None
    assert page.locator(".diff .added").inner_text().strip().endswith("local sma = ta.sma(12)")
    shot(page, "04b-version-diff")

    # Backtest it on the simulated market's stored minutes; trades show on the chart.
    page.click("a:has-text('Backtest')")
    page.wait_for_selector("select[name=market] option", state="attached")
    page.select_option("select[name=market]", "sim ALPHA/USD")
    page.select_option("select[name=timeframe]", "1m")
    page.click("button:has-text('Run backtest')")
    page.wait_for_selector("[data-testid=trade-count]", timeout=60_000)
    trades = int(page.locator("[data-testid=trade-count]").inner_text())
    assert trades > 0
    page.wait_for_timeout(500)
    shot(page, "05-backtest", full=True)

    # A paper account, and the strategy assigned to a simulated market.
    page.goto(f"{platform_url}/accounts")
    page.fill("input[name=name]", "Paper")
    page.click("button:has-text('Add account')")
    page.wait_for_selector("text=Account “Paper” created.")
    shot(page, "06-paper-account")
    page.goto(f"{platform_url}/assignments?new=1")
    page.wait_for_selector("select[name=account_id] option", state="attached")
    page.select_option("select[name=market]", "sim ALPHA/USD")
    page.select_option("select[name=timeframe]", "1m")
    page.fill("input[name=allocation]", "1000")
    page.click("button:has-text('Assign and start')")
    page.wait_for_url("**/assignments/*")

    # Its first trade appears on the chart and on the dashboard.
    page.wait_for_selector("td:has-text('filled')", timeout=90_000)
    page.wait_for_timeout(800)
    shot(page, "07-assignment-first-trade", full=True)
    page.goto(f"{platform_url}/")
    page.wait_for_selector("[data-testid=recent-orders] td:has-text('filled')", timeout=30_000)
    shot(page, "08-dashboard-trading")
    assert not problems, problems

    # The desk's speed, printed as a benchmark (not asserted): a signed-in dashboard, and a
    # market chart of 10,000 candles.
    started = time.monotonic()
    page.goto(f"{platform_url}/")
    page.wait_for_selector("[data-testid=total-equity]")
    dashboard_s = time.monotonic() - started
    page.goto(f"{platform_url}/markets/bitfinex/BTC/USD?tf=1m")
    page.wait_for_function(f"() => ({CHART})?.lastDrawMs > 0", timeout=30_000)
    draw_ms = page.evaluate(f"() => ({CHART}).lastDrawMs")
    candles = page.evaluate(f"() => ({CHART}).candles.length")
    shot(page, "09-market-10000-candles")
    print(
        f"\nBENCHMARK desk: signed-in dashboard usable in {dashboard_s * 1000:.0f} ms; "
        f"chart of {candles:,} candles drawn in {draw_ms:.0f} ms"
    )
    assert candles == 10_000

    # A phone-sized screen.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{platform_url}/")
    small.wait_for_selector("[data-testid=total-equity]")
    shot(small, "10-phone-dashboard", full=True)
    phone.close()


def stranger(browser: Any, platform_url: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{platform_url}/signup")
    page.fill("input[name=email]", "stranger@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=total-equity]")
    page.goto(f"{platform_url}/strategies")
    page.wait_for_selector("text=No strategies yet")
    page.goto(f"{platform_url}/strategies/1")
    page.wait_for_selector("text=strategy 1 not found")
    page.goto(f"{platform_url}/assignments/1")
    page.wait_for_selector("text=assignment 1 not found")
    shot(page, "11-stranger-sees-nothing")
    html = page.content()
    assert "Paper example" not in html
    context.close()


def keyboard(browser: Any, platform_url: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{platform_url}/signup")
    page.wait_for_selector("input[name=email]")
    page.keyboard.press("Tab")
    page.keyboard.type("keys@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=total-equity]")
    for _ in range(3):  # brand, Dashboard, Strategies
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/strategies")
    context.close()


@pytest.fixture(scope="module", autouse=True)
def _clean_artifacts() -> None:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)


SCENARIOS = {"journey": main_journey, "stranger": stranger, "keyboard": keyboard}

if __name__ == "__main__":  # the child process: python -m tests.web.test_browser SCENARIO URL
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            SCENARIOS[sys.argv[1]](launched, sys.argv[2])
        finally:
            launched.close()
