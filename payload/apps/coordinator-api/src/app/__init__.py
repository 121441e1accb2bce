"""AITBC demo coordinator API."""
