"""The Smart Router (``phoenix-flywheel serve``): the HTTP API on Litestar, with a worker."""

from src.entrypoints.http.app import create_app

__all__ = ["create_app"]
