"""The API's request and response bodies (the OpenAPI document is generated from these).

Requests forbid unknown fields and bound every string and number, so a hostile body is refused
with a message naming the field rather than reaching the database. Money is a decimal string in
responses: a float would lose cents.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Email = Annotated[str, StringConstraints(min_length=3, max_length=320, strip_whitespace=True)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Source = Annotated[str, StringConstraints(max_length=256 * 1024)]
Decimalish = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^\s*[0-9]+(\.[0-9]+)?\s*$")
]
ExchangeId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Symbol = Annotated[
    str, StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+/[A-Za-z0-9._:-]+$")
]
TimeframeText = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
ParamValue = bool | int | float | Annotated[str, StringConstraints(max_length=200)]
Params = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], ParamValue], Field(max_length=50)
]
EpochMs = Annotated[int, Field(ge=0, le=32_503_680_000_000)]  # up to the year 3000

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: what is wrong, and per field for forms."""

    detail: str
    errors: list[FieldErrorOut]


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "Refused"),
        (401, "Not signed in"),
        (403, "Forbidden (CSRF, cross-site, or administrators only)"),
        (404, "Not found (or not yours)"),
        (409, "Conflicts with the current state"),
        (422, "Invalid input: the fields at fault are named"),
        (429, "Too many attempts"),
    )
}


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


# --- people -----------------------------------------------------------------------------------


class Credentials(Strict):
    email: Email
    password: Password


class PasswordChange(Strict):
    current_password: Password
    new_password: Password


class UserOut(BaseModel):
    id: int
    email: str
    is_admin: bool
    trading_paused: bool


class TradingSwitch(Strict):
    trading_paused: bool


class TokenIn(Strict):
    name: Name


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_ms: int
    last_used_ms: int | None
    token: str | None = None  # only in the answer that creates it


# --- strategies ---------------------------------------------------------------------------------


class StrategyIn(Strict):
    name: Name
    source: Source


class VersionIn(Strict):
    source: Source


class CheckIn(Strict):
    source: Source


class StrategyOut(BaseModel):
    id: int
    name: str
    latest_version: int
    created_ms: int
    updated_ms: int


class VersionOut(BaseModel):
    id: int
    strategy_id: int
    number: int
    source: str
    created_ms: int


class Problem(BaseModel):
    line: int | None
    message: str


class CheckOut(BaseModel):
    ok: bool
    errors: list[Problem]
    warnings: list[Problem]
    params: list[str]


class TemplateOut(BaseModel):
    id: str
    name: str
    description: str
    source: str


# --- accounts ----------------------------------------------------------------------------------


class PaperAccountIn(Strict):
    kind: Literal["paper"]
    name: Name
    balances: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,12}$")], Decimalish],
        Field(min_length=1, max_length=20),
    ]
    fee_rate: Decimalish = "0.001"
    slippage: Decimalish = "0"


class ExchangeAccountIn(Strict):
    kind: Literal["exchange"]
    name: Name
    exchange: ExchangeId
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=512, strip_whitespace=True)]
    api_secret: Annotated[str, StringConstraints(min_length=1, max_length=512, strip_whitespace=True)]
    passphrase: Annotated[str, StringConstraints(max_length=512)] | None = None


AccountIn = Annotated[PaperAccountIn | ExchangeAccountIn, Field(discriminator="kind")]


class AccountOut(BaseModel):
    id: int
    name: str
    kind: Literal["paper", "exchange"]
    exchange: str | None
    balances: dict[str, str]
    fee_rate: str | None
    slippage: str | None
    api_key_hint: str | None  # the key's last characters, never the key or the secret
    paused_reason: str | None
    enabled: bool
    created_ms: int


# --- assignments and orders ----------------------------------------------------------------------


class AssignmentIn(Strict):
    version_id: Annotated[int, Field(ge=1, le=2**53)]
    exchange: ExchangeId
    symbol: Symbol
    timeframe: TimeframeText
    account_id: Annotated[int, Field(ge=1, le=2**53)]
    allocation: Decimalish
    params: Params = {}


class AssignmentPatch(Strict):
    enabled: bool


class LastEvaluationOut(BaseModel):
    candle_time_ms: int | None
    result: str | None
    error: str | None
    evaluated_ms: int | None


class AssignmentOut(BaseModel):
    id: int
    strategy_id: int
    strategy: str
    version_id: int
    version: int
    exchange: str
    symbol: str
    timeframe: str
    account_id: int
    account: str
    allocation: str
    params: dict[str, ParamValue]
    enabled: bool
    disabled_reason: str | None
    position: Literal["long", "short"]
    base_held: str
    quote_held: str
    realized_pnl: str
    unrealized_pnl: str
    fees: str
    equity: str
    last_price: str | None
    last_evaluation: LastEvaluationOut | None
    created_ms: int


class OrderOut(BaseModel):
    id: int
    assignment_id: int
    client_order_id: int
    candle_time_ms: int
    exchange: str
    symbol: str
    side: Literal["buy", "sell"]
    amount: str
    filled: str
    price: str | None
    fee: str
    fee_currency: str | None
    status: Literal["pending", "open", "filled", "canceled", "rejected", "failed"]
    error: str | None
    created_ms: int
    updated_ms: int


# --- markets -------------------------------------------------------------------------------------


class MarketOut(BaseModel):
    exchange: str
    symbol: str
    timeframes: list[str]
    last_price: float | None
    change_24h: float | None
    volume_24h: float | None
    last_time_ms: int | None
    streamed: bool = False  # an exchange adapter streams it now


Candle = tuple[int, float, float, float, float, float]


class CandlesOut(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    candles: list[Candle]


# --- backtests -----------------------------------------------------------------------------------


class BacktestIn(Strict):
    version_id: Annotated[int, Field(ge=1, le=2**53)]
    exchange: ExchangeId
    symbol: Symbol
    timeframe: TimeframeText
    since_ms: EpochMs | None = None
    until_ms: EpochMs | None = None
    cash: Decimalish = "10000"
    fee: Decimalish = "0.001"
    params: Params = {}


class TradeOut(BaseModel):
    time_ms: int
    side: Literal["buy", "sell"]
    price: float
    units: float
    fee: float


class MetricsOut(BaseModel):
    final_equity: float
    total_return: float
    buy_hold_return: float
    trades: int
    win_rate: float
    max_drawdown: float
    sharpe: float
    exposure: float
    warmup_candles: int


class BacktestResultOut(BaseModel):
    metrics: MetricsOut
    trades: list[TradeOut]
    equity: list[tuple[int, float]]
    buy_hold: list[tuple[int, float]]
    candles: list[Candle]
    notes: list[str]
    logs: list[str]


class BacktestOut(BaseModel):
    id: int
    status: Literal["queued", "running", "done", "failed", "canceled"]
    progress: float
    error: str | None
    strategy: str
    strategy_id: int
    version: int
    version_id: int
    exchange: str | None
    symbol: str | None
    upload_name: str | None
    timeframe: str
    since_ms: int | None
    until_ms: int | None
    cash: str
    fee: str
    params: dict[str, ParamValue]
    created_ms: int
    finished_ms: int | None
    metrics: MetricsOut | None = None
    result: BacktestResultOut | None = None  # only on the item, not in lists


# --- dashboard and health ----------------------------------------------------------------------


class RecentError(BaseModel):
    assignment_id: int
    strategy: str
    message: str
    candle_time_ms: int | None


class DashboardOut(BaseModel):
    currency: str
    total_equity: str
    total_allocation: str
    total_pnl: str
    equity: list[tuple[int, float]]
    assignments: list[AssignmentOut]
    recent_orders: list[OrderOut]
    recent_errors: list[RecentError]
    trading_paused: bool


class ComponentOut(BaseModel):
    component: str
    instance: str
    host: str
    pid: int
    age_s: float


class HealthOut(BaseModel):
    database: str
    bus: str
    components: list[ComponentOut]
    users: int
    enabled_assignments: int
    orders_last_hour: int
    failed_orders_last_hour: int
