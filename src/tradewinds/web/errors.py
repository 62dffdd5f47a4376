"""Errors as the API answers them: a status, a message a person can read, and the fields at fault.

Every error body has the same shape, `{"detail": "...", "errors": [{"field": ..., "message": ...}]}`,
so the desk shows a message beside the form field it concerns. Validation errors name the field
(`email: value is not a valid email address`), never a Python type.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("tradewinds.web")


class ApiError(Exception):
    """A refusal the user can act on."""

    status = 400

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Invalid(ApiError):
    status = 422


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class TooManyRequests(ApiError):
    status = 429

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


def not_found(kind: str, item_id: object) -> NotFound:
    """The same answer whether the item does not exist or belongs to someone else."""
    return NotFound(f"{kind} {item_id} not found")


def body(detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or []}


# Pydantic puts the tag of a discriminated union (an account's `kind`) in an error's location;
# the person filled in `balances`, not `paper.balances`.
_UNION_TAGS = ("paper", "exchange")


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "cookie")]
    if len(parts) > 1 and parts[0] in _UNION_TAGS:
        parts = parts[1:]
    return ".".join(parts) or "request"


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
        headers = (
            {"Retry-After": str(max(1, round(exc.retry_after_s)))}
            if isinstance(exc, TooManyRequests)
            else None
        )
        return JSONResponse(body(exc.detail, errors), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(e.get("loc", ())), "message": _plain(str(e.get("msg", "")))}
            for e in exc.errors()
        ]
        if not errors:
            errors = [{"field": "request", "message": "the request is not valid"}]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        return JSONResponse(body(detail, errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "the request failed"
        return JSONResponse(body(detail), status_code=exc.status_code, headers=getattr(exc, "headers", None))
