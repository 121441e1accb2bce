"""AITBC demo payload: trade-exchange."""
