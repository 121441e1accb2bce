"""AITBC demo payload: coordinator-api."""
