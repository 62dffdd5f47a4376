"""Shared fixtures: each lives in tests/fixtures/<name>.py and is registered here."""

import importlib.util

pytest_plugins = [
    name
    for name in ("tests.fixtures.nats", "tests.fixtures.databases")
    if importlib.util.find_spec(name) is not None
]
