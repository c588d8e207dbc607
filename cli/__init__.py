"""Operator commands under `flask …` (Flask's click integration); they wire pipelines together.

May import anything below it: `jobs`, `refresh`, `events`, `reports`, `gh`, `analysis`, `models`, `infra`.
"""
