"""AITBC demo payload: exchange-api."""
