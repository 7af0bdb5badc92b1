from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, make_url
from sqlmodel import SQLModel

import commandpost.storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
url = config.get_main_option("sqlalchemy.url")
target_metadata = SQLModel.metadata


def run() -> None:
    assert url is not None
    # `synchronous` is Command Post's own SQLite option (storage/engine.py), not the driver's.
    engine = create_engine(make_url(url).difference_update_query(["synchronous"]))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
