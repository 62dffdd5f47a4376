"""The PostgreSQL discovery behind the `database_url` fixture: the throwaway-cluster path.

(The TRADEWINDS_TEST_POSTGRES_URL path runs with every PostgreSQL test when the variable is set.)
"""

from __future__ import annotations

import asyncpg
import pytest

from tests.fixtures.databases import find_postgres_binaries, run_async, throwaway_cluster
from tradewinds.storage.database import schema_revision, upgrade_schema
from tradewinds.storage.schema import head_revision


async def _server_version(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(conn.get_server_version().major)
    finally:
        await conn.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_throwaway_cluster_starts_migrates_and_goes_away() -> None:
    binaries = find_postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    with throwaway_cluster(binaries) as url:
        assert run_async(_server_version(url)) >= 12
        run_async(upgrade_schema(url))
        assert run_async(schema_revision(url)) == head_revision()
    with pytest.raises(OSError):
        run_async(_server_version(url))
