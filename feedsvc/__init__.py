"""feedsvc: publishes valid, stable RSS 2.0, Atom 1.0 and JSON Feed files from article files."""

from __future__ import annotations

__version__ = "0.1.0"
