"""Message encoding: msgpack via msgspec, with one reusable encoder and a decoder per type."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


@functools.cache
def _decoder(kind: type[Any]) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(kind)


def decode(data: bytes, kind: type[T]) -> T:
    """Decode `data` as `kind`; raises msgspec.DecodeError (a ValueError) naming what is wrong."""
    result: T = _decoder(kind).decode(data)
    return result
