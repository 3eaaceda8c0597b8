"""PostgreSQL: opening it (db, embedded), the schema (models, ``migrations/``), reads and
writes (repo, tokens), the spool for when it is down (outbox).
"""

import logging

# Alembic narrates every step at INFO, some of it when first imported ("setup plugin …",
# "Context impl …"); the store logs one line per migration itself. Set here, before any
# store module imports Alembic.
logging.getLogger("alembic").setLevel(logging.WARNING)
