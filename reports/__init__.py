"""Read-side queries: commit lists and contributors, repository history, project rollups, chart
series and figures, and the Prometheus exposition.

May import: `gh`, `analysis`, `models`, `infra`, `settings`. Never `refresh`, `events`, `api`.
"""
