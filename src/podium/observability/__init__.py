"""Observability as readers of the journal: traces and metrics, cost, audit, inspection, and
turning a recorded run into a regression test. Nothing here changes a run."""
