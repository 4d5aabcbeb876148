"""Alembic environment: runs on the connection the store hands over."""

from __future__ import annotations

import backoffice.access.models  # access grants and their provisioning calls
import backoffice.billing.models  # billing tables (issued invoices, counters) share Base too
import backoffice.contracts.store  # contracts, their returned documents and threads
import backoffice.payments.models  # statement imports, bank transactions, allocations
import backoffice.receivables.models  # reminders, tasks and escalations taken
import backoffice.web.models  # noqa: F401  (the web app's tables share Base's metadata)
from alembic import context
from backoffice.store.models import Base
from sqlalchemy import create_engine

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run()
