"""AITBC demo payload: the pool hub, a miner registry kept in PostgreSQL."""
