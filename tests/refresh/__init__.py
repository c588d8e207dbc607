"""Tests of the `refresh` package."""
