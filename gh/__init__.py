"""GitHub access: the REST client, its pure response rules, the conditional-request cache, the
shared rate governor, and the naming rules for owners, repositories and URLs.

May import: `models`, `infra`, `settings`. Never `refresh`, `events`, `reports`, `api`.
"""
