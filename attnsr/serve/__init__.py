"""``attnsr serve``: a local web app and HTTP API for upscaling (the ``serve`` extra: FastAPI + uvicorn).

``create_app(ServeConfig(...))`` builds the ASGI app; the page is plain HTML/CSS/JS in ``static/``
(package data, nothing loaded from elsewhere). Importing this package needs the extra installed.
"""

from attnsr.serve.app import create_app
from attnsr.serve.catalogue import Catalogue, ModelChoice, build_catalogue
from attnsr.serve.config import ServeConfig

__all__ = ["Catalogue", "ModelChoice", "ServeConfig", "build_catalogue", "create_app"]
