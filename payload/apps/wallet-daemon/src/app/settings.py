"""Settings from the environment (case-insensitive) and ./.env, i.e. src/.env of the app."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", case_sensitive=False, extra="ignore")
    coordinator_base_url: str = "http://localhost:8011"
    # Relative to the working directory, which is apps/wallet-daemon/src when started as documented.
    ledger_db_path: str = "./data/wallet_ledger.db"


settings = Settings()
