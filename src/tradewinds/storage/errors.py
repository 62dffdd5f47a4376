"""What can go wrong with the database, in words a user can act on."""

from __future__ import annotations


class StorageError(Exception):
    """A database problem; the message says what is wrong and what to do."""


class DatabaseUrlError(StorageError, ValueError):
    """`TRADEWINDS_DATABASE_URL` (or a URL given in code) is not one Tradewinds can use."""


class SchemaNotCurrentError(StorageError):
    """The database's tables are missing or older than this version of Tradewinds expects."""


class NoCandlesError(StorageError, LookupError):
    """A candle series has nothing stored in the requested time range."""


class RecordNotFound(StorageError, LookupError):
    """A user, strategy, account or assignment that does not exist (or is not the caller's)."""


class InvalidRecord(StorageError, ValueError):
    """Values a record cannot hold: an email that is no email, an allocation over the balance, ..."""
