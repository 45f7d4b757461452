"""``podium serve``: the HTTP control plane (FastAPI), a client of :mod:`podium.service`.

Install with ``pip install 'podium[server]'``. See docs/server.md.
"""

from podium.server.app import create_app

__all__ = ["create_app"]
