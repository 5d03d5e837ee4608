"""The Smart Router: the Litestar HTTP control API, with the background worker."""

from src.entrypoints.http.app import create_app

__all__ = ["create_app"]
