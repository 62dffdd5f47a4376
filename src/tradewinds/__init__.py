"""Tradewinds: a distributed platform for algorithmic crypto trading with sandboxed Lua strategies."""

__version__ = "0.1.0"
