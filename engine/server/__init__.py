"""The HTTP face of the engine: REST under /admin, Socket.IO, and what hosts them in a FastAPI app."""

from nomaflow.engine.server.app import create_app, nomaflow_lifespan
from nomaflow.engine.server.host import Nomaflow

__all__ = ["Nomaflow", "create_app", "nomaflow_lifespan"]
