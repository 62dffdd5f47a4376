"""Subcommands of the `tradewinds` CLI, one module each."""
