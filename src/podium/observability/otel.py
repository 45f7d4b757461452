"""OpenTelemetry plumbing: derived ids (so a resumed run continues its trace) and the SDK setup
from the standard ``OTEL_*`` environment variables. Importing this module needs only
``opentelemetry-api``; the SDK is imported inside the functions that need it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace
from opentelemetry.trace import Tracer

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import IdGenerator

__all__ = [
    "Telemetry",
    "configure_from_env",
    "id_generator",
    "span_id_of",
    "trace_id_of",
]

_log = logging.getLogger(__name__)

# -- ids --------------------------------------------------------------------------------------


def trace_id_of(run_id: str) -> int:
    """The trace id of a run: the first 16 bytes of ``sha256(run_id)``."""
    value = int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:16], "big")
    return value or 1


def span_id_of(run_id: str, key: str) -> int:
    """The span id of what ``key`` names in a run (``run``, ``node:PATH``, ``tool:KEY``...)."""
    digest = hashlib.blake2b(f"{run_id}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


# (trace id, run id, span key) of the span being started: read by the id generator, set
# around each start_span call (a ContextVar: other threads never see it)
HINT: ContextVar[tuple[int, str, str] | None] = ContextVar("podium_span_ids", default=None)


@functools.cache
def _id_generator_class() -> type[IdGenerator]:
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class PodiumIdGenerator(RandomIdGenerator):
        """Random ids, except for spans Podium derives from a journal (they carry a hint)."""

        def generate_span_id(self) -> int:
            hint = HINT.get()
            return span_id_of(hint[1], hint[2]) if hint else super().generate_span_id()

        def generate_trace_id(self) -> int:
            hint = HINT.get()
            return hint[0] if hint else super().generate_trace_id()

    return PodiumIdGenerator


def id_generator() -> IdGenerator:
    """An SDK ``IdGenerator`` giving journal spans their derived ids (random ids otherwise).

    ``TracerProvider(id_generator=id_generator())``. Needs ``opentelemetry-sdk``.
    """
    return _id_generator_class()()


@functools.cache
def version_of_podium() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("podium")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return ""


# -- setup ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What :func:`configure_from_env` installed (``None``: that signal is not exported)."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None

    def tracer(self) -> Tracer:
        provider = self.tracer_provider or trace.get_tracer_provider()
        return provider.get_tracer("podium", version_of_podium())

    def meter(self) -> Meter:
        provider = self.meter_provider or metrics.get_meter_provider()
        return provider.get_meter("podium", version_of_podium())

    def shutdown(self) -> None:
        """Flush and stop the exporters."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _wanted(signal: str) -> bool:
    exporter = os.environ.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower()
    if exporter in ("", "none"):
        return False
    endpoint = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint and endpoint.strip())


def configure_from_env(
    *, set_global: bool = True, service_name: str = "podium"
) -> Telemetry | None:
    """Install the OpenTelemetry SDK with OTLP/HTTP exporters, if the environment asks for it.

    Traces are exported when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, metrics when ``OTEL_EXPORTER_OTLP_ENDPOINT``
    or ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is (``OTEL_TRACES_EXPORTER=none`` /
    ``OTEL_METRICS_EXPORTER=none`` turn one off, ``OTEL_SDK_DISABLED=true`` both). The
    exporters read the other standard variables (headers, timeout, compression; the resource
    from ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``). Only ``http/protobuf`` is
    supported. Returns ``None`` — and installs nothing, so nothing is sent — when nothing is
    configured or the ``otel`` extra is not installed. With ``set_global`` the providers
    become the global ones (what :class:`JournalTracer` and
    :class:`~podium.observability.metrics.JournalMetrics` use by default).
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    traces, meters = _wanted("TRACES"), _wanted("METRICS")
    if not (traces or meters):
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    if protocol != "http/protobuf":
        _log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: Podium exports http/protobuf only", protocol)
        return None
    try:
        telemetry = _install(traces, meters, service_name)
    except ImportError as error:
        _log.warning(
            "OpenTelemetry export needs: pip install -e '.[otel]' (in a clone) (%s)", error
        )
        return None
    if set_global:
        if telemetry.tracer_provider is not None:
            trace.set_tracer_provider(telemetry.tracer_provider)
        if telemetry.meter_provider is not None:
            metrics.set_meter_provider(telemetry.meter_provider)
    return telemetry


def _install(traces: bool, meters: bool, service_name: str) -> Telemetry:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    tracer_provider = meter_provider = None
    if traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider = TracerProvider(resource=resource, id_generator=id_generator())
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if meters:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    return Telemetry(tracer_provider, meter_provider)
