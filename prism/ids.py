"""Title ids: the partition key and a path component, so validated before any path is built."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

TITLE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class InvalidTitleId(ValueError):
    """A title id that Prism refuses to turn into a partition or a path."""


def validate_title_id(value: object) -> str:
    """Return ``value`` if it is a safe title id, else raise :class:`InvalidTitleId`.

    Allowed: 1–128 characters of ``[A-Za-z0-9._-]``, starting with a letter or
    digit, never containing ``..`` (so never a parent-directory reference).
    """
    if not isinstance(value, str):
        raise InvalidTitleId(f"title id must be a string, got {type(value).__name__}")
    shown = value if len(value) <= 40 else value[:40] + "…"
    if not value:
        raise InvalidTitleId("title id is empty")
    if len(value) > 128:
        raise InvalidTitleId(f"title id {shown!r} is {len(value)} characters long (max 128)")
    if ".." in value:
        raise InvalidTitleId(f"title id {shown!r} contains '..'")
    if not TITLE_ID_PATTERN.fullmatch(value):
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "._-"))})
        if bad:
            raise InvalidTitleId(
                f"title id {shown!r} contains characters outside [A-Za-z0-9._-]: "
                + ", ".join(repr(c) for c in bad)
            )
        raise InvalidTitleId(f"title id {shown!r} must start with a letter or digit")
    return value


TitleId = Annotated[str, AfterValidator(validate_title_id)]
