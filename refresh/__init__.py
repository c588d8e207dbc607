"""The refresh pipeline: job lifecycle, discovery, the per-project refresh, commit sync, the
counted-blob store, metadata changes and the repositories tracked by hand.

May import: `gh`, `analysis`, `models`, `infra`, `settings`. Never `events`, `reports`, `api`.
"""
