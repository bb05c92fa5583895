"""The request statistics (plain counts, no locks) are exported exactly as prometheus_client's
own Counter and Histogram would export the same observations."""

from __future__ import annotations

import random
import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from service.metrics import LATENCY_BUCKETS, Metrics


def _comparable(text: bytes) -> list[str]:
    # Creation times differ between the two registries; everything else must not.
    lines = (
        re.sub(r"(_created(\{[^}]*\})?) \S+$", r"\1 T", line) for line in text.decode().splitlines()
    )
    return sorted(lines)


def test_request_stats_export_as_prometheus_client_would() -> None:
    """Counts by route, method and status, the latency histogram (bounds included) and the
    authcheck decisions read the same as with prometheus_client's metrics."""
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "authsvc_http_requests", "HTTP requests.", ["route", "method", "status"], registry=registry
    )
    latency = Histogram(
        "authsvc_http_request_duration_seconds",
        "HTTP request latency.",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    decisions = Counter(
        "authsvc_authz_decisions", "authcheck answers.", ["decision"], registry=registry
    )
    metrics = Metrics()
    rng = random.Random(7)
    for _ in range(3000):
        route = rng.choice(["/api/v2/authcheck", "/api/v2/users/login", "unmatched"])
        method, status = rng.choice(["GET", "POST"]), rng.choice([200, 201, 401, 429, 503])
        # Every bound exactly, and values between and beyond them.
        seconds = rng.choice([*LATENCY_BUCKETS, 0.0, 1e-5, 7.5, rng.random()])
        metrics.observe(route, method, status, seconds)
        requests.labels(route, method, str(status)).inc()
        latency.labels(route).observe(seconds)
    metrics.stats.decided(11, 15)
    decisions.labels("allow").inc(11)
    decisions.labels("deny").inc(4)
    ours = [
        line
        for line in _comparable(metrics.render())
        if re.match(r"(# \w+ )?authsvc_(http_request|authz_decisions)", line)
    ]
    assert ours == _comparable(generate_latest(registry))


def test_callers_cannot_grow_the_request_series_at_will() -> None:
    """Made-up methods and routes stop adding series at MAX_SERIES (the exposition stays
    bounded); the series already there keep counting."""
    metrics = Metrics()
    limit = metrics.stats.MAX_SERIES
    for i in range(3 * limit):
        metrics.observe(f"/made-up/{i}", f"M{i}", 404, 0.001)
        metrics.observe("/api/v2/authcheck", "POST", 200, 0.001)
    assert len(metrics.stats.requests) <= limit
    assert len(metrics.stats.latency) <= limit
    assert metrics.stats.requests[("/api/v2/authcheck", "POST", 200)] == 3 * limit
