"""Workers: processes that claim runnable runs from a shared store and execute them.

Run as many as you like against one store (``podium worker``); leases make sure a run has one
executor at a time and fencing makes sure a worker that lost its lease writes nothing more.
See docs/workers.md.
"""

from podium.worker.core import Worker, WorkerStats

__all__ = ["Worker", "WorkerStats"]
