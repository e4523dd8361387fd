"""Persistence: SQLAlchemy 2 tables, the unit-of-work factory and Alembic migrations."""
