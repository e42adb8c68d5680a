"""Database layer: ORM models, engine/session factory and the repository (all SQL lives here)."""
