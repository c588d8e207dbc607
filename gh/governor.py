"""Decide when GitHub work must pause, from the rate-limit budget every answer reports.

Two kinds of pause (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
the primary budget running below a floor we keep in reserve (pause until `x-ratelimit-reset`),
and explicit pauses after a rate-limit answer (secondary: `retry-after` or at least 60 s).
`LocalGovernor` keeps that state in this process; `RedisGovernor` shares it between every worker
process on every machine, so one worker's 403 stops all of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gh.rules import RateBudget


class RateGovernor(Protocol):
    """Shared view of the GitHub budget and of pauses."""

    def observe(self, budget: RateBudget | None) -> None:
        """Record the budget an answer reported."""
        ...

    def pause_until(self, until: datetime, reason: str) -> None:
        """Pause GitHub work until `until` (a later pause wins)."""
        ...

    def paused_until(self, now: datetime | None = None) -> datetime | None:
        """Return when the current pause ends, None when work may go on."""
        ...

    def snapshot(self, now: datetime | None = None) -> dict[str, Any]:
        """Return limit, remaining, reset, paused_until and reason, for /api/health."""
        ...


@dataclass(frozen=True)
class Pause:
    """An explicit pause and why."""

    until: datetime
    reason: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


def usable(budget: RateBudget | None) -> bool:
    """Tell whether a budget describes the core REST window (the only one this service spends)."""
    return budget is not None and budget.reset_at is not None and budget.resource in (None, "core")


def supersedes(new: RateBudget, current: RateBudget | None) -> bool:
    """Tell whether `new` replaces `current`: answers arrive out of order from concurrent workers.

    A later window wins; within one window `remaining` only goes down, so the lowest value wins.
    """
    if current is None or current.reset_at is None or new.reset_at is None:
        return True
    if new.reset_at != current.reset_at:
        return new.reset_at > current.reset_at
    return new.remaining <= current.remaining


def pause_end(budget: RateBudget | None, floor: int, pause: Pause | None, now: datetime) -> Pause | None:
    """Return the pause in force at `now`: the later of the explicit pause and the floor pause."""
    candidates = []
    if pause is not None and pause.until > now:
        candidates.append(pause)
    if budget is not None and budget.reset_at is not None and budget.reset_at > now and budget.remaining < floor:
        # A spent window is the primary rate limit whether or not its 403 has been seen yet.
        reason = "primary rate limit" if budget.remaining == 0 else f"budget below floor ({budget.remaining} < {floor})"
        candidates.append(Pause(budget.reset_at, reason))
    return max(candidates, key=lambda p: p.until, default=None)


def snapshot_of(budget: RateBudget | None, pause: Pause | None) -> dict[str, Any]:
    """Return the JSON-ready view of a budget and the pause in force."""
    return {
        "limit": budget.limit if budget else None,
        "remaining": budget.remaining if budget else None,
        "used": budget.used if budget else None,
        "reset": budget.reset_at.isoformat() if budget and budget.reset_at else None,
        "paused_until": pause.until.isoformat() if pause else None,
        "reason": pause.reason if pause else None,
    }


class LocalGovernor:
    """Keep the budget and pauses in this process (thread-safe)."""

    def __init__(self, floor: int = 0) -> None:
        self.floor = floor
        self._budget: RateBudget | None = None
        self._pause: Pause | None = None
        self._lock = threading.Lock()

    def observe(self, budget: RateBudget | None) -> None:
        """Record the budget an answer reported."""
        if budget is None or not usable(budget):
            return
        with self._lock:
            if supersedes(budget, self._budget):
                self._budget = budget

    def pause_until(self, until: datetime, reason: str) -> None:
        """Pause GitHub work until `until` (a later pause wins)."""
        with self._lock:
            if self._pause is None or until > self._pause.until:
                self._pause = Pause(until, reason)

    def paused_until(self, now: datetime | None = None) -> datetime | None:
        """Return when the current pause ends, None when work may go on."""
        with self._lock:
            pause = pause_end(self._budget, self.floor, self._pause, now or _utcnow())
        return pause.until if pause else None

    def snapshot(self, now: datetime | None = None) -> dict[str, Any]:
        """Return limit, remaining, reset, paused_until and reason."""
        with self._lock:
            return snapshot_of(self._budget, pause_end(self._budget, self.floor, self._pause, now or _utcnow()))


# KEYS[1] budget hash; ARGV limit, remaining, reset (epoch s), used, resource.
_OBSERVE = """
local reset = tonumber(ARGV[3])
local current_reset = tonumber(redis.call('HGET', KEYS[1], 'reset'))
if current_reset then
  if reset < current_reset then return 0 end
  local current_remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining'))
  if reset == current_reset and current_remaining and tonumber(ARGV[2]) > current_remaining then return 0 end
end
redis.call('HSET', KEYS[1], 'limit', ARGV[1], 'remaining', ARGV[2], 'reset', ARGV[3],
           'used', ARGV[4], 'resource', ARGV[5])
redis.call('EXPIREAT', KEYS[1], reset + 1)
return 1
"""

# KEYS[1] pause hash; ARGV until (epoch s, float), reason.
_PAUSE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'until'))
if current and current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'until', ARGV[1], 'reason', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
return 1
"""


def _text(raw: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in raw.items()
    }


class RedisGovernor:
    """Share the budget and pauses through Redis, across processes and machines.

    The budget hash expires at its reset; the pause hash just after its end. Both are updated by
    Lua scripts, so concurrent workers never overwrite a lower `remaining` or a later pause.
    """

    def __init__(self, redis_client: Any, floor: int = 0, prefix: str = "project-tracker:github") -> None:
        self.floor = floor
        self._redis = redis_client
        self._budget_key = f"{prefix}:budget"
        self._pause_key = f"{prefix}:pause"
        self._observe = redis_client.register_script(_OBSERVE)
        self._pause = redis_client.register_script(_PAUSE)

    def observe(self, budget: RateBudget | None) -> None:
        """Record the budget an answer reported."""
        if budget is None or budget.reset_at is None or not usable(budget):
            return
        args = [budget.limit, budget.remaining, int(budget.reset_at.timestamp()), budget.used, budget.resource or ""]
        self._observe(keys=[self._budget_key], args=args)

    def pause_until(self, until: datetime, reason: str) -> None:
        """Pause GitHub work until `until` (a later pause wins)."""
        self._pause(keys=[self._pause_key], args=[repr(until.timestamp()), reason])

    def _state(self) -> tuple[RateBudget | None, Pause | None]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._budget_key)
        pipe.hgetall(self._pause_key)
        raw_budget, raw_pause = (_text(r) for r in pipe.execute())
        budget = None
        if raw_budget.get("reset"):
            budget = RateBudget(
                limit=int(raw_budget["limit"]),
                remaining=int(raw_budget["remaining"]),
                reset_at=datetime.fromtimestamp(int(raw_budget["reset"]), UTC),
                used=int(raw_budget["used"]),
                resource=raw_budget.get("resource") or None,
            )
        pause = None
        if raw_pause.get("until"):
            pause = Pause(datetime.fromtimestamp(float(raw_pause["until"]), UTC), raw_pause.get("reason", ""))
        return budget, pause

    def paused_until(self, now: datetime | None = None) -> datetime | None:
        """Return when the current pause ends, None when work may go on."""
        budget, pause = self._state()
        current = pause_end(budget, self.floor, pause, now or _utcnow())
        return current.until if current else None

    def snapshot(self, now: datetime | None = None) -> dict[str, Any]:
        """Return limit, remaining, reset, paused_until and reason."""
        budget, pause = self._state()
        return snapshot_of(budget, pause_end(budget, self.floor, pause, now or _utcnow()))
