"""pyinfra deploy modules, one per role; `site.py` is the entry point."""
