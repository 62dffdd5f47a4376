"""Where adapters send their requests: the exchanges' real endpoints unless the environment says otherwise.

`TRADEWINDS_<ID>_REST_URL` is a host root (`http://127.0.0.1:8080`, no version path) and
`TRADEWINDS_<ID>_WS_URL` a full WebSocket URL; `<ID>` is the ccxt id in upper case (`BITFINEX`,
`BINANCE`). Tests point adapters at a local fake this way, and a deployment can use a proxy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

BITFINEX_PUBLIC_REST = "https://api-pub.bitfinex.com"
BITFINEX_SIGNED_REST = "https://api.bitfinex.com"
BITFINEX_WS = "wss://api-pub.bitfinex.com/ws/2"


@dataclass(frozen=True)
class EndpointOverrides:
    """Replacements for an exchange's endpoints; None keeps the exchange's own."""

    rest_url: str | None = None
    ws_url: str | None = None

    @property
    def any(self) -> bool:
        return self.rest_url is not None or self.ws_url is not None


@dataclass(frozen=True)
class BitfinexEndpoints:
    public_rest: str  # host root; ccxt and our client add `/v2/...`
    signed_rest: str
    ws: str  # full URL of the public WebSocket


def rest_env_var(exchange_id: str) -> str:
    return f"TRADEWINDS_{_env_id(exchange_id)}_REST_URL"


def ws_env_var(exchange_id: str) -> str:
    return f"TRADEWINDS_{_env_id(exchange_id)}_WS_URL"


def endpoint_overrides(exchange_id: str, env: Mapping[str, str] | None = None) -> EndpointOverrides:
    """The overrides the environment sets for `exchange_id` (empty values count as unset)."""
    source = os.environ if env is None else env
    rest = source.get(rest_env_var(exchange_id)) or None
    ws = source.get(ws_env_var(exchange_id)) or None
    if rest is not None:
        _check_url(rest, ("http", "https"), rest_env_var(exchange_id))
        rest = rest.rstrip("/")
    if ws is not None:
        _check_url(ws, ("ws", "wss"), ws_env_var(exchange_id))
    return EndpointOverrides(rest_url=rest, ws_url=ws)


def bitfinex_endpoints(env: Mapping[str, str] | None = None) -> BitfinexEndpoints:
    """Bitfinex's endpoints: a REST override serves both the public and the signed API."""
    overrides = endpoint_overrides("bitfinex", env)
    return BitfinexEndpoints(
        public_rest=overrides.rest_url or BITFINEX_PUBLIC_REST,
        signed_rest=overrides.rest_url or BITFINEX_SIGNED_REST,
        ws=overrides.ws_url or BITFINEX_WS,
    )


def apply_bitfinex_endpoints(exchange: Any, endpoints: BitfinexEndpoints) -> None:
    """Point a ccxt (or ccxt.pro) Bitfinex instance at `endpoints`.

    The whole `urls['api']` is replaced: ccxt's constructor merges configuration, so a key left
    out would still point at the real exchange.
    """
    api: dict[str, Any] = {
        "v1": endpoints.signed_rest,
        "public": endpoints.public_rest,
        "private": endpoints.signed_rest,
    }
    if isinstance(exchange.urls.get("api"), Mapping) and "ws" in exchange.urls["api"]:
        api["ws"] = {"public": endpoints.ws, "private": endpoints.ws}
    exchange.urls["api"] = api


def apply_overrides(exchange: Any, overrides: EndpointOverrides) -> None:
    """Rewrite every endpoint in a ccxt instance's `urls['api']` that an override covers.

    A REST override replaces the scheme and host of each http(s) URL and keeps its path (so
    `https://api.binance.com/api/v3` becomes `<override>/api/v3`); a WebSocket override replaces
    each ws(s) URL whole. The tree is rebuilt, not merged, so no real endpoint survives.
    """
    if not overrides.any:
        return
    exchange.urls["api"] = _rewrite(exchange.urls.get("api"), overrides)


def _rewrite(node: Any, overrides: EndpointOverrides) -> Any:
    if isinstance(node, Mapping):
        return {key: _rewrite(value, overrides) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite(value, overrides) for value in node]
    if not isinstance(node, str):
        return node
    if node.startswith(("ws://", "wss://")):
        return overrides.ws_url or node
    if overrides.rest_url is None:
        return node
    path = urlsplit(node).path.rstrip("/")
    return overrides.rest_url + path


def _env_id(exchange_id: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in exchange_id).upper()


def _check_url(url: str, schemes: tuple[str, ...], variable: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        wanted = " or ".join(f"{s}://host[:port]" for s in schemes)
        raise ValueError(f"{variable}={url!r} is not a URL of the form {wanted}")
