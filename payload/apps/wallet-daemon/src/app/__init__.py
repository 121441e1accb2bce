"""AITBC demo wallet daemon (a source tree, run from src/: there is no pyproject)."""
