"""Strategy source text as users write it, made ready for Lua."""

from __future__ import annotations

import re

# The founding paper prints strategies with `//` comments; Lua would read `//` as an operator.
_SLASH_COMMENT = re.compile(r"^(\s*)//", re.MULTILINE)

MAX_SOURCE_BYTES = 256 * 1024


def normalize_source(text: str) -> str:
    """Rewrite lines whose first non-blank characters are `//` into Lua `--` comments.

    Only whole-line comments change, so line numbers in error messages stay the user's.
    """
    if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise ValueError(f"strategy source is larger than {MAX_SOURCE_BYTES // 1024} KiB")
    return _SLASH_COMMENT.sub(r"\1--", text.lstrip("\ufeff"))
