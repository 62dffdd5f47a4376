"""Pagination of list endpoints: `offset` and `limit` in, a `Page` out."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Path, Query

from tradewinds.web.schemas import Page

T = TypeVar("T")

Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]
# Ids in paths are bounded: a larger number is no id (and would overflow a database integer).
ItemId = Annotated[int, Path(ge=1, le=2**53, description="the item's id")]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page (at most 500)")]


def page(items: list[T], offset: int, limit: int) -> Page[T]:
    return Page[T](items=items[offset : offset + limit], total=len(items), offset=offset, limit=limit)
