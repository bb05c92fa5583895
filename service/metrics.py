"""Prometheus metrics: one registry per application (no module-level state)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# Login outcomes by the status login answered with.
LOGIN_OUTCOMES: Final = {
    201: "success",
    400: "bad_request",
    401: "rejected",
    403: "forbidden",
    429: "rate_limited",
}


LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _Latency:
    __slots__ = ("buckets", "count", "created", "total")

    def __init__(self) -> None:
        self.created = time.time()
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above every bound
        self.count = 0
        self.total = 0.0


class RequestStats(Collector):
    """What every request adds to the metrics -- requests by route, method and status, latency
    by route, authcheck decisions -- as plain counts, exported as Prometheus counters and a
    histogram. Updated and read on the event loop only, so without the locks of
    prometheus_client's own metrics (measured in bench/: they cost more than a microsecond
    of every request).
    """

    # Methods and statuses come from callers: past this many series, a new route/method/status
    # (or route, for latency) is not counted, so no caller can grow the exposition at will.
    MAX_SERIES = 1024

    def __init__(self) -> None:
        self._created = time.time()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, _Latency] = {}
        self.allowed = 0
        self.denied = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        count = self.requests.get(key)
        if count is not None:
            self.requests[key] = count + 1
        elif len(self.requests) < self.MAX_SERIES:
            self.requests[key] = 1
        latency = self.latency.get(route)
        if latency is None:
            if len(self.latency) >= self.MAX_SERIES:
                return
            latency = self.latency[route] = _Latency()
        latency.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency.count += 1
        latency.total += seconds

    def decided(self, allowed: int, total: int) -> None:
        """An authcheck answered `total` checks, `allowed` of them true."""
        self.allowed += allowed
        self.denied += total - allowed

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "authsvc_http_requests", "HTTP requests.", labels=["route", "method", "status"]
        )
        for (route, method, status), count in self.requests.items():
            requests.add_metric([route, method, str(status)], count, created=self._created)
        yield requests
        latency = HistogramMetricFamily(
            "authsvc_http_request_duration_seconds", "HTTP request latency.", labels=["route"]
        )
        bounds = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]
        for route, seen in self.latency.items():
            cumulative: list[tuple[str, float]] = []
            running = 0
            for bound, count in zip(bounds, seen.buckets, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            latency.add_metric([route], cumulative, seen.total)
        yield latency
        created = GaugeMetricFamily(  # as prometheus_client's Histogram writes it
            "authsvc_http_request_duration_seconds_created",
            "HTTP request latency.",
            labels=["route"],
        )
        for route, seen in self.latency.items():
            created.add_metric([route], seen.created)
        yield created
        decisions = CounterMetricFamily(
            "authsvc_authz_decisions", "authcheck answers.", labels=["decision"]
        )
        decisions.add_metric(["allow"], self.allowed, created=self._created)
        decisions.add_metric(["deny"], self.denied, created=self._created)
        yield decisions


class Metrics:
    """Every metric the service exports. Also an `auth` event recorder (see `count`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # Counted on every request: plain counts, no locks (see RequestStats).
        self.stats = RequestStats()
        r.register(self.stats)
        self.logins = Counter(
            "authsvc_logins", "Password logins by outcome.", ["outcome"], registry=r
        )
        self.otp_requests = Counter(
            "authsvc_otp_requests", "Passcode requests received.", registry=r
        )
        self.otp_failures = Counter(
            "authsvc_otp_failures", "Passcode password changes refused.", registry=r
        )
        self.events = Counter("authsvc_events", "Service events.", ["event"], registry=r)
        self.rate_limited = Counter(
            "authsvc_rate_limited", "Requests refused by a rate limit.", ["route"], registry=r
        )
        self.policy = Gauge(
            "authsvc_policy_info", "The loaded policy version.", ["version"], registry=r
        )
        self.outbox_depth = Gauge(
            "authsvc_outbox_depth", "Jobs queued or waiting to retry.", registry=r
        )
        self.outbox_dead = Gauge("authsvc_outbox_dead", "Jobs given up on.", registry=r)
        self.delivery_failures = Gauge(
            "authsvc_mail_delivery_failures",
            "Failed delivery attempts in this process.",
            registry=r,
        )

    def count(self, event: str) -> None:
        """Record an event from a service (e.g. `password_rehash`, `otp_issued`)."""
        self.events.labels(event).inc()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One finished HTTP request."""
        self.stats.observe(route, method, status, seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()
        if route == "/api/v2/users/login" and method == "POST":
            self.logins.labels(LOGIN_OUTCOMES.get(status, "error")).inc()
        elif route == "/api/v2/users/otp/request" and status == 204:
            self.otp_requests.inc()
        elif route == "/api/v2/users/otp/change-password" and status == 400:
            self.otp_failures.inc()

    def set_policy(self, version: str) -> None:
        """Show exactly one policy version."""
        self.policy.clear()
        self.policy.labels(version).set(1)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
