"""Prometheus metrics: one registry per application (no module-level state)."""

from __future__ import annotations

from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# Login outcomes by the status login answered with.
LOGIN_OUTCOMES: Final = {
    201: "success",
    400: "bad_request",
    401: "rejected",
    403: "forbidden",
    429: "rate_limited",
}


class Metrics:
    """Every metric the service exports. Also an `auth` event recorder (see `count`)."""

    MAX_BOUND = 1024

    def __init__(self) -> None:
        self._bound: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "authsvc_http_requests", "HTTP requests.", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "authsvc_http_request_duration_seconds",
            "HTTP request latency.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
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
        self.authz = Counter(
            "authsvc_authz_decisions", "authcheck answers.", ["decision"], registry=r
        )
        # Bound once: authcheck counts every decision.
        self.authz_allow = self.authz.labels("allow")
        self.authz_deny = self.authz.labels("deny")
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
        """One finished HTTP request. The labelled children are looked up once per (route,
        method, status) and kept (at most `MAX_BOUND`: methods come from callers)."""
        bound = self._bound.get((route, method, status))
        if bound is None:
            bound = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            if len(self._bound) < self.MAX_BOUND:
                self._bound[(route, method, status)] = bound
        bound[0].inc()
        bound[1].observe(seconds)
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
