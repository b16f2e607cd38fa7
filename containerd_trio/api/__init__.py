"""The REST API: a Quart-Trio app in front of the supervisor."""

from .app import create_app

__all__ = ["create_app"]
