"""Runs the alembic migrations from code (the CLI, the dev server and the tests use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_dir() -> Path:
    """alembic/ beside src/ in a checkout; /app/alembic (or the working directory's) in an image."""
    candidates = [Path(__file__).resolve().parents[3] / "alembic", Path.cwd() / "alembic"]
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("alembic/ directory not found; run from the project root")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
