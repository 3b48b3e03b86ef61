"""The HTTP face of the engine: a FastAPI app factory and a lifespan any FastAPI app can host."""

from engine.server.app import create_app, nomaflow_lifespan

__all__ = ["create_app", "nomaflow_lifespan"]
