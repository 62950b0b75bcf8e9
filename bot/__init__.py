"""Augnes: a git-native evolution bot for strategies."""

from __future__ import annotations

__version__ = "0.1.0"
