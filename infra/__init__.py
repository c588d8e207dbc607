"""Plumbing every package stands on: Flask extensions, the per-app runtime, the task queue, the
error type, pagination and secret redaction.

May import: `settings` only (and third-party libraries).
"""
