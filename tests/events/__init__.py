"""Tests of the `events` package."""
