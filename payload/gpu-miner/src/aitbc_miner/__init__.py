"""AITBC demo payload: gpu-miner."""
