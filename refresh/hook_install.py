"""Create or update this service's webhook on every tracked repository (`flask webhooks install`).

Idempotent: the hooks of each repository are listed, the one whose `config.url` is ours is
PATCHed (GitHub masks a hook's secret, so it is always re-sent), otherwise one is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from gh.access import github_client
from gh.rules import GitHubError
from refresh.discovery import refreshable_projects

HOOK_EVENTS = ("push", "repository", "star", "watch", "fork", "public")


@dataclass(frozen=True)
class Installed:
    repository: str
    outcome: str  # "created" | "updated" | "failed"
    detail: str = ""


def hook_body(url: str, secret: str) -> dict[str, object]:
    """Return the hook's settings: JSON deliveries to `url`, signed with `secret`, TLS verified."""
    config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
    return {"active": True, "events": list(HOOK_EVENTS), "config": config}


def install(url: str, secret: str) -> Iterator[Installed]:
    """Install or update the hook on each tracked (not paused) repository; one result per repository."""
    gh = github_client()
    for project in refreshable_projects():
        base = f"/repos/{quote(project.owner, safe='')}/{quote(project.name, safe='')}/hooks"
        try:
            hooks = [hook for page in gh.paginate(base, {"per_page": 100}) for hook in page.data or []]
            ours = next((h for h in hooks if isinstance(h, dict) and (h.get("config") or {}).get("url") == url), None)
            if ours is None:
                gh.write("POST", base, {"name": "web", **hook_body(url, secret)})
                yield Installed(project.full_name, "created")
            else:
                gh.write("PATCH", f"{base}/{int(ours['id'])}", hook_body(url, secret))
                yield Installed(project.full_name, "updated")
        except GitHubError as exc:
            yield Installed(project.full_name, "failed", str(exc))
