"""PostgreSQL: opening it (database, embedded), the schema (models, ``migrations/``, which
ship as package data, migrate) and API tokens. Features keep their own queries in their own
folders.
"""

import logging

# Alembic narrates every step at INFO, some of it when first imported ("setup plugin …",
# "Context impl …"); the store logs one line per migration itself. Set here, before any
# store module imports Alembic.
logging.getLogger("alembic").setLevel(logging.WARNING)
