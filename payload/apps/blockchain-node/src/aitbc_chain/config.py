"""Node settings from the environment (case-insensitive) and ./.env; lists are JSON lists."""

import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE = "blockchain-node"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", case_sensitive=False, extra="ignore")
    chain_id: str = "ait-devnet"
    # Relative to the working directory, so systemd units must set one (or an absolute DB_PATH).
    db_path: Path = Path("./data/chain.db")
    proposer_id: str = Field(default_factory=socket.gethostname)
    block_time_seconds: float = 2
    rpc_bind_host: str = "127.0.0.1"
    rpc_bind_port: int = 8080
    allow_origins: list[str] = []
    # Base URLs of other nodes' RPC; only their /rpc/head is polled, nothing is pulled.
    peers: list[str] = []
    # Today's upstream node (c27c654) reads PERIODIC_SYNC_INTERVAL; the February one this name.
    sync_interval_seconds: float = Field(
        default=10, validation_alias=AliasChoices("sync_interval_seconds", "periodic_sync_interval"))
    # Today's upstream node: a hub proposes; a follower copies the chain of the node whose RPC
    # base URL is DEFAULT_PEER_RPC_URL (one URL), every sync interval (follow.py).
    blockchain_mode: Literal["hub", "follower"] = "hub"
    default_peer_rpc_url: str = ""


settings = Settings()
