"""Fixtures for the invoice reading tests."""

from __future__ import annotations

import random

import pytest


@pytest.fixture
def rng() -> random.Random:
    """A seeded random source: every run writes the same files."""
    return random.Random(4242)
