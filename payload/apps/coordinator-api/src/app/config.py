"""Settings from the environment (case-insensitive) and ./.env, like the real coordinator."""

import sys

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Relative to the working directory: the process must start in its app dir for this to land
# in the release's data dir, which is what the deploy data has to get right.
DEFAULT_DATABASE_URL = "sqlite:///../data/coordinator.db"


class DatabaseConfig(BaseSettings):
    # A settings class of its own, so it reads the bare env name URL (no prefix), as the real one.
    model_config = SettingsConfigDict(env_file=".env", case_sensitive=False, extra="ignore")
    url: str | None = None

    @property
    def effective_url(self) -> str:
        return self.url or DEFAULT_DATABASE_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", case_sensitive=False, extra="ignore")
    app_env: str = "dev"
    jwt_secret: str | None = None
    # list[str] fields are parsed as JSON by pydantic-settings: "a,b" is an error, not a list.
    admin_api_keys: list[str] = []
    allow_origins: list[str] = ["http://localhost:3000", "http://localhost:8080"]
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)


settings = Settings()

# Dev runs may go without a secret; production must never sign tokens with a default.
if settings.app_env.lower() == "production" and not (settings.jwt_secret or "").strip():
    print("coordinator-api: APP_ENV=production requires JWT_SECRET (missing or empty)", file=sys.stderr)
    raise SystemExit(2)
