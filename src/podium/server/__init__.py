"""``podium serve``: the HTTP control plane (FastAPI), a client of :mod:`podium.service`.

Install with ``pip install -e '.[server]'`` (in a clone). See docs/server.md.
"""

from podium.server.app import create_app

__all__ = ["create_app"]
