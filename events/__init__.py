"""GitHub activity events: the poller, the store, the queries behind the event metrics, and
the event types.

May import: `gh`, `analysis`, `models`, `infra`, `settings`. Never `refresh`, `reports`, `api`.
"""
