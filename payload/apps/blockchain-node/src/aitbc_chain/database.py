"""The chain database's schema, created once before the node and its RPC processes start.

Run: python -c "from aitbc_chain.database import init_db; init_db()" (idempotent).
"""

from aitbc_chain.config import settings
from aitbc_chain.storage import connect


def init_db() -> None:
    connect(settings.db_path).close()
