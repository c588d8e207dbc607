"""Name the GitHub event types, in one place (https://docs.github.com/en/rest/using-the-rest-api/github-event-types)."""

from __future__ import annotations

from typing import Literal

# Every type GitHub documents for the Events API. Events of other (retired or future) types are
# still stored and counted by their own name; only query parameters are checked against this list.
EVENT_TYPES: tuple[str, ...] = (
    "CommitCommentEvent",
    "CreateEvent",
    "DeleteEvent",
    "DiscussionEvent",
    "ForkEvent",
    "GollumEvent",
    "IssueCommentEvent",
    "IssuesEvent",
    "MemberEvent",
    "PublicEvent",
    "PullRequestEvent",
    "PullRequestReviewCommentEvent",
    "PullRequestReviewEvent",
    "PullRequestReviewThreadEvent",
    "PushEvent",
    "ReleaseEvent",
    "SponsorshipEvent",
    "WatchEvent",
)

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]

# Seed 003's `events_count` keys, kept for its clients; every other type is keyed by its name.
LEGACY_COUNT_KEYS: dict[str, str] = {
    "PullRequestEvent": "pr_event",
    "WatchEvent": "watch_event",
    "IssuesEvent": "issue_event",
}


def count_key(event_type: str) -> str:
    """Return the `events_count` key of an event type."""
    return LEGACY_COUNT_KEYS.get(event_type, event_type)
