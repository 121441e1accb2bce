"""AITBC demo payload: blockchain-node."""
