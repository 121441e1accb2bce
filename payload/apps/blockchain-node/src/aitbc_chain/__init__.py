"""AITBC demo blockchain node: a PoA proposer and an RPC API sharing one sqlite file."""
