"""Prometheus metrics: requests by route, events appended, how far each view lags.

One registry per process (not the library's global one), so tests that build
several apps do not collide. Lag is computed when scraped by ``projections.lag``,
as ``GET /ready`` does: no bookkeeping on the write path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from projections.lag import projection_lag

if TYPE_CHECKING:
    from services.bootstrap import Careplan

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "careplan_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "careplan_http_request_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
EVENTS = Counter(
    "careplan_events_appended",
    "Events stored by this process, by event type.",
    ["type"],
    registry=REGISTRY,
)

COMMAND_BATCH = Histogram(
    "careplan_command_batch_size",
    "Commands written in one transaction by group commit (services/group_commit.py).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)


class ProjectionLag(Collector):
    """Each view's lag, read at scrape time with the same figures as ``GET /ready``."""

    def __init__(self, careplan: Careplan) -> None:
        self.careplan = careplan

    def collect(self) -> Iterator[GaugeMetricFamily]:
        events = GaugeMetricFamily(
            "careplan_projection_lag_events",
            "Events in the log that a projection has not processed yet.",
            labels=["projection"],
        )
        seconds = GaugeMetricFamily(
            "careplan_projection_lag_seconds",
            "How long ago the oldest event a projection has not processed was recorded.",
            labels=["projection"],
        )
        app = self.careplan.app
        _, lags = projection_lag(
            self.careplan.views,
            app.recorder,
            app.mapper,
            self.careplan.followers,
            datetime.now(UTC),
        )
        for name, lag in lags.items():
            events.add_metric([name], lag.events_behind)
            seconds.add_metric([name], lag.seconds_behind)
        yield events
        yield seconds


_watching: list[ProjectionLag] = []


def watch(careplan: Careplan) -> None:
    """Report this Careplan's lag (a new app replaces the previous one's collector)."""
    while _watching:
        REGISTRY.unregister(_watching.pop())
    collector = ProjectionLag(careplan)
    REGISTRY.register(collector)
    _watching.append(collector)
