"""Execution: order intents from the decision service, traded exactly once (docs/architecture.md)."""
