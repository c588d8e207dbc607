"""Field types shared by request schemas: text that every database can store."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError


def plain_text(value: str, multiline: bool = False) -> str:
    """Refuse control characters and lone surrogates (no database can store them as text)."""
    allowed = {"\n", "\r", "\t"} if multiline else set()
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed:
            raise PydanticCustomError("control_character", "Must not contain control characters")
    return value


def query_text(max_length: int) -> object:
    """Return a one-line query-string text type of 1..max_length characters."""
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(plain_text)]
