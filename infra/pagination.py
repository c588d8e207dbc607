"""Number pages of a listing and describe them in a GitHub-style `Link` header (RFC 8288)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, select

from infra.extensions import db


@dataclass(frozen=True)
class Page:
    """One page of rows and the numbers a client needs to walk the others."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """Return the number of pages (1 for an empty listing, so page 1 always exists)."""
        return max(1, math.ceil(self.total / self.per_page))


def paginate(query: Select[Any], order: Sequence[Any], page: int, per_page: int) -> Page:
    """Run one numbered page of `query` in `order`, with the count of every matching row."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.order_by(*order).offset((page - 1) * per_page).limit(per_page))
    return Page(list(rows), page, per_page, total)


def link_header(base_url: str, args: Mapping[str, str], page: int, pages: int, per_page: int) -> str:
    """Return `<url>; rel="next", …` for next/prev/first/last, as GitHub does; "" for a single page."""
    if pages <= 1 and page <= 1:
        return ""

    def url(number: int) -> str:
        return f"{base_url}?{urlencode({**args, 'page': number, 'per_page': per_page})}"

    links = []
    if page < pages:
        links.append(f'<{url(page + 1)}>; rel="next"')
    if page > 1:
        links.append(f'<{url(min(page - 1, pages))}>; rel="prev"')
    links.append(f'<{url(1)}>; rel="first"')
    links.append(f'<{url(pages)}>; rel="last"')
    return ", ".join(links)
