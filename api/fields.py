"""Field types shared by request schemas: text that every database can store."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# The same rules as `plain_text`, for the API description (JSON Schema / ECMA regex syntax), so
# generated clients and fuzzers know which characters are refused. Lone surrogates cannot be sent as
# UTF-8 at all, so only the control characters (Unicode category Cc) are spelled out.
_CC = "\\u0000-\\u001f\\u007f-\\u009f"
LINE_PATTERN = f"^[^{_CC}]*$"
# One line holding at least one non-space character (the value is stripped, and blank is refused).
NONBLANK_LINE_PATTERN = f"^[^{_CC}]*[^\\s{_CC}][^{_CC}]*$"
# Several lines: tabs and line breaks allowed.
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


def plain_text(value: str, multiline: bool = False) -> str:
    """Refuse control characters and lone surrogates (no database can store them as text)."""
    allowed = {"\n", "\r", "\t"} if multiline else set()
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed:
            raise PydanticCustomError("control_character", "Must not contain control characters")
    return value


def documented(pattern: str) -> object:
    """Return field metadata that documents `pattern` without validating it (validators give the messages)."""
    return Field(json_schema_extra={"pattern": pattern})


def query_text(max_length: int) -> object:
    """Return a one-line query-string text type of 1..max_length characters."""
    return Annotated[
        str, Field(min_length=1, max_length=max_length), documented(LINE_PATTERN), AfterValidator(plain_text)
    ]
