"""Tests of the `gh` package."""
