"""ASGI entry point for uvicorn/gunicorn: `omicsdm.asgi:app`."""

from omicsdm.app import create_app

app = create_app()
