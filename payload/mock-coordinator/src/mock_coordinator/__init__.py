"""AITBC demo payload: mock-coordinator."""
