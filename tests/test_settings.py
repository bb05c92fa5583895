"""Settings: environment variables, durations, one-line errors naming the setting."""

from __future__ import annotations

import pytest

from service.settings import SettingsError, load_settings


def test_defaults() -> None:
    """Defaults match the documented table."""
    s = load_settings()
    assert (s.host, s.port, s.redis_url) == ("127.0.0.1", 8080, "memory://")
    assert s.session_duration == 86400 and s.session_max_lifetime == 30 * 86400
    assert s.login_rate_limit == 60 and not s.disable_password_auth and s.embedded


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("600", 600), ("10m", 600), ("24h", 86400), ("30d", 2592000), ("1.5s", 1.5)],
)
def test_durations(raw: str, seconds: float) -> None:
    """Durations accept seconds or s/m/h/d suffixes."""
    assert load_settings(session_duration=raw).session_duration == seconds


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """AUTHSVC_<NAME> sets each setting; flags (overrides) win over the environment."""
    monkeypatch.setenv("AUTHSVC_PORT", "9999")
    monkeypatch.setenv("AUTHSVC_LOGIN_RATE_LIMIT", "-1")
    monkeypatch.setenv("AUTHSVC_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32")
    s = load_settings()
    assert s.port == 9999 and s.login_rate_limit == -1 and len(s.trusted_proxies) == 2
    assert load_settings(port="7000").port == 7000


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"port": "eighty"}, "AUTHSVC_PORT (--port)"),
        ({"session_duration": "10 minutes"}, "AUTHSVC_SESSION_DURATION (--session-duration)"),
        ({"login_rate_limit": "-5"}, "AUTHSVC_LOGIN_RATE_LIMIT"),
        ({"trusted_proxies": "not-a-net"}, "AUTHSVC_TRUSTED_PROXIES"),
    ],
)
def test_bad_values_name_the_setting(overrides: dict[str, str], fragment: str) -> None:
    """A bad value raises one line naming the setting."""
    with pytest.raises(SettingsError) as info:
        load_settings(**overrides)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_secret_key_is_masked() -> None:
    """The secret never appears in the settings' repr."""
    s = load_settings(secret_key="super-secret-value-123")
    assert "super-secret-value-123" not in repr(s)


def test_serving_needs_a_shared_secret_outside_embedded_mode() -> None:
    """Settings load without SECRET_KEY (the admin commands need none); serving refuses."""
    settings = load_settings(redis_url="redis://127.0.0.1:6379", smtp_host="127.0.0.1")
    problem = settings.serving_problem()
    assert problem is not None and problem.startswith("AUTHSVC_SECRET_KEY is required")
    assert load_settings(smtp_host="127.0.0.1").serving_problem() is None  # embedded
