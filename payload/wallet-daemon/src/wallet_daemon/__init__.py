"""AITBC demo payload: wallet-daemon."""
