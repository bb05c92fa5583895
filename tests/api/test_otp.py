"""Password reset by one-time passcode: vectors 11-20 and the deliberate differences."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from service import keys
from service.auth.users import NewUser, User
from service.mail.templates import OTP_TEMPLATE_ID, PASSWORD_CHANGED_TEMPLATE_ID, TEMPLATE_HEADER
from service.store import keys as store_keys
from tests.conftest import Client, MakeClient, login
from tests.support import STRONG, RecordingSmtp, wait_until

REQUEST = "/api/v2/users/otp/request"
CHANGE = "/api/v2/users/otp/change-password"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NEW = "Brand-New-Secret-42!"
INCORRECT = {"message": "Incorrect email or one-time passcode."}


@pytest.fixture
async def app_client(make_client: MakeClient, smtp: RecordingSmtp) -> Client:
    """The service, sending mail to the recording server."""
    return await make_client(smtp_host="127.0.0.1", smtp_port=smtp.port)


async def add_user(client: Client, email: str, password: str = STRONG, **kw: Any) -> User:
    app = client.app
    user = await app[keys.DIRECTORY].create(
        NewUser(email, email.split("@")[0], await app[keys.PASSWORDS].hash(password), **kw)
    )
    assert user is not None
    return user


async def request_code(client: Client, smtp: RecordingSmtp, email: str) -> str:
    """Request a code and return it from the mail that arrives."""
    before = len(smtp.to(email))
    resp = await client.post(REQUEST, json={"email": email})
    assert resp.status == 204
    await wait_until(lambda: len(smtp.to(email)) > before)
    body = smtp.to(email)[-1].get_body(preferencelist=("plain",)).get_content()
    match = UUID_RE.search(body)
    assert match
    return match.group(0)


async def change(client: Client, email: str, code: str, password: str = NEW) -> Any:
    return await client.post(
        CHANGE, json={"email": email, "one_time_passcode": code, "password": password}
    )


async def test_request_for_unknown_and_known_addresses(
    app_client: Client, smtp: RecordingSmtp
) -> None:
    """Vector 11: 204 with an empty body either way; only the real account gets the mail."""
    await add_user(app_client, "alma@corp.example")
    resp = await app_client.post(REQUEST, json={"email": "ghost@corp.example"})
    assert resp.status == 204
    assert await resp.read() == b""
    code = await request_code(app_client, smtp, "alma@corp.example")
    mail = smtp.to("alma@corp.example")[-1]
    assert mail[TEMPLATE_HEADER] == OTP_TEMPLATE_ID
    assert mail["Subject"] == "Reset your password for Coder"
    html_part = mail.get_body(preferencelist=("html",)).get_content()
    link = re.search(r'href="([^"]+)"', html_part)
    assert link
    url = urlparse(link.group(1).replace("&amp;", "&"))
    assert url.path == "/reset-password/change"
    assert parse_qs(url.query) == {"otp": [code], "email": ["alma@corp.example"]}
    assert link.group(1).startswith("http://authsvc.test/")
    await asyncio.sleep(0.3)
    assert smtp.to("ghost@corp.example") == []


async def test_request_validation_and_disabled(make_client: MakeClient, app_client: Client) -> None:
    """Vectors 12-13: empty email -> 400; password auth disabled -> 403 before the body."""
    resp = await app_client.post(REQUEST, json={"email": ""})
    assert resp.status == 400
    assert (await resp.json())["validations"] == [
        {"field": "email", "detail": 'Validation failed for tag "required" with value: ""'}
    ]
    disabled = await make_client(disable_password_auth=True)
    for path in (REQUEST, CHANGE):
        resp = await disabled.post(path, data=b"not json")
        assert resp.status == 403
        assert await resp.json() == {"message": "Password authentication is disabled."}


async def test_change_password_vectors(app_client: Client, smtp: RecordingSmtp) -> None:
    """Vectors 14, 15, 18 and 19: policy first, one message for bad codes, reuse of the old one."""
    await add_user(app_client, "bea@corp.example")
    code = await request_code(app_client, smtp, "bea@corp.example")
    resp = await change(app_client, "bea@corp.example", code, "notstrong")
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Invalid password.",
        "validations": [
            {
                "field": "password",
                "detail": "insecure password, try including more special characters, using "
                "uppercase letters, using numbers or using a longer password",
            }
        ],
    }
    for email, otp in (("bea@corp.example", str(uuid.uuid4())), ("nobody@corp.example", code)):
        resp = await change(app_client, email, otp)
        assert resp.status == 400
        assert await resp.json() == INCORRECT
    resp = await app_client.post(
        CHANGE, json={"email": "bea@corp.example", "one_time_passcode": "", "password": NEW}
    )
    assert resp.status == 400
    assert [v["field"] for v in (await resp.json())["validations"]] == ["one_time_passcode"]
    resp = await change(app_client, "bea@corp.example", code, STRONG)
    assert resp.status == 400
    assert await resp.json() == {"message": "New password cannot match old password."}
    # Refusing the new password did not burn the code.
    assert (await change(app_client, "bea@corp.example", code)).status == 204


async def test_code_of_another_user(app_client: Client, smtp: RecordingSmtp) -> None:
    """Vector 16: alice's code with bob's email fails, and bob's password is unchanged."""
    await add_user(app_client, "al@corp.example")
    await add_user(app_client, "bo@corp.example")
    code = await request_code(app_client, smtp, "al@corp.example")
    resp = await change(app_client, "bo@corp.example", code)
    assert resp.status == 400
    assert await resp.json() == INCORRECT
    await login(app_client, "bo@corp.example", STRONG)


async def test_expired_code(make_client: MakeClient, smtp: RecordingSmtp) -> None:
    """Vector 17: a code past OTP_TTL fails with the one message."""
    client = await make_client(smtp_host="127.0.0.1", smtp_port=smtp.port, otp_ttl=1)
    await add_user(client, "cy@corp.example")
    code = await request_code(client, smtp, "cy@corp.example")
    await asyncio.sleep(1.2)
    resp = await change(client, "cy@corp.example", code)
    assert resp.status == 400
    assert await resp.json() == INCORRECT


async def test_successful_reset(app_client: Client, smtp: RecordingSmtp) -> None:
    """Vector 20: 204; old sessions die; new password works, old fails; code is single-use."""
    await add_user(app_client, "dee@corp.example")
    token = await login(app_client, "dee@corp.example")
    code = await request_code(app_client, smtp, "dee@corp.example")
    resp = await change(app_client, "dee@corp.example", code)
    assert resp.status == 204
    assert await resp.read() == b""
    resp = await app_client.get("/api/v2/users/me", headers={"Coder-Session-Token": token})
    assert resp.status == 401
    assert (await resp.json())["detail"] == "API key is invalid."
    await login(app_client, "dee@corp.example", NEW)
    resp = await app_client.post(
        "/api/v2/users/login", json={"email": "dee@corp.example", "password": STRONG}
    )
    assert resp.status == 401
    resp = await change(app_client, "dee@corp.example", code, "Another-Secret-77!")
    assert resp.status == 400
    assert await resp.json() == INCORRECT
    # Deviation: a "your password was changed" notice is sent.
    await wait_until(
        lambda: any(
            m[TEMPLATE_HEADER] == PASSWORD_CHANGED_TEMPLATE_ID for m in smtp.to("dee@corp.example")
        )
    )


async def test_earlier_code_survives_a_new_request(app_client: Client, smtp: RecordingSmtp) -> None:
    """A second request does not void the first code; a successful reset voids both."""
    await add_user(app_client, "eve@corp.example")
    first = await request_code(app_client, smtp, "eve@corp.example")
    second = await request_code(app_client, smtp, "eve@corp.example")
    assert first != second
    assert (await change(app_client, "eve@corp.example", first)).status == 204
    resp = await change(app_client, "eve@corp.example", second, "Yet-Another-Secret-7!")
    assert resp.status == 400
    assert await resp.json() == INCORRECT


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


@pytest.fixture
async def proxied_client(make_client: MakeClient, smtp: RecordingSmtp) -> Client:
    """The service behind a trusted proxy, so tests can speak from several addresses."""
    return await make_client(
        smtp_host="127.0.0.1", smtp_port=smtp.port, trusted_proxies="127.0.0.1/32"
    )


async def guess(client: Client, email: str, code: str, ip: str) -> Any:
    body = {"email": email, "one_time_passcode": code, "password": NEW}
    return await client.post(CHANGE, json=body, headers=_from(ip))


async def test_wrong_codes_block_the_guesser_not_the_code(
    proxied_client: Client, smtp: RecordingSmtp
) -> None:
    """5 wrong codes from one client: that client gets 429, the owner's code still works."""
    await add_user(proxied_client, "fay@corp.example")
    code = await request_code(proxied_client, smtp, "fay@corp.example")
    for _ in range(5):
        resp = await guess(proxied_client, "fay@corp.example", str(uuid.uuid4()), "198.51.100.7")
        assert resp.status == 400
    resp = await guess(proxied_client, "fay@corp.example", code, "198.51.100.7")
    assert resp.status == 429
    assert "one-time passcode attempts" in (await resp.json())["message"]
    assert 0 < int(resp.headers["Retry-After"]) <= 600
    # An unknown address is throttled exactly alike (no account enumeration).
    for _ in range(5):
        resp = await guess(proxied_client, "nobody@corp.example", code, "198.51.100.7")
        assert resp.status == 400
    resp = await guess(proxied_client, "nobody@corp.example", code, "198.51.100.7")
    assert resp.status == 429
    assert (await guess(proxied_client, "fay@corp.example", code, "203.0.113.9")).status == 204


async def test_parallel_guesses_count_exactly(proxied_client: Client, smtp: RecordingSmtp) -> None:
    """12 concurrent wrong guesses from one client: exactly 5 are compared, the rest 429."""
    await add_user(proxied_client, "gil@corp.example")
    code = await request_code(proxied_client, smtp, "gil@corp.example")
    results = await asyncio.gather(
        *[
            guess(proxied_client, "gil@corp.example", str(uuid.uuid4()), "198.51.100.8")
            for _ in range(12)
        ]
    )
    assert sorted(r.status for r in results) == [400] * 5 + [429] * 7
    assert (await guess(proxied_client, "gil@corp.example", code, "203.0.113.10")).status == 204


async def test_same_code_twice_concurrently(app_client: Client, smtp: RecordingSmtp) -> None:
    """Two concurrent requests with one code: exactly one succeeds."""
    await add_user(app_client, "hal@corp.example")
    code = await request_code(app_client, smtp, "hal@corp.example")
    results = await asyncio.gather(
        change(app_client, "hal@corp.example", code, "First-Choice-11!"),
        change(app_client, "hal@corp.example", code, "Second-Choice-22!"),
    )
    assert sorted(r.status for r in results) == [204, 400]


async def test_request_budgets_per_requester_and_per_address(
    proxied_client: Client, smtp: RecordingSmtp
) -> None:
    """3 codes per requester per window; a stranger's requests never use up the owner's."""
    await add_user(proxied_client, "ida@corp.example")
    email = "ida@corp.example"
    for _ in range(4):  # a stranger asks 4 times: 3 codes are sent, the 4th is dropped
        resp = await proxied_client.post(REQUEST, json={"email": email}, headers=_from("192.0.2.1"))
        assert resp.status == 204
    await wait_until(lambda: len(smtp.to(email)) == 3)
    resp = await proxied_client.post(REQUEST, json={"email": email}, headers=_from("203.0.113.5"))
    assert resp.status == 204  # ...and the owner still gets a code
    await wait_until(lambda: len(smtp.to(email)) == 4)
    # Against mail flooding from many addresses: at most OTP_ADDRESS_LIMIT (10) per window.
    for i in range(10):
        await proxied_client.post(
            REQUEST, json={"email": email}, headers=_from(f"192.0.2.{10 + i}")
        )
    await wait_until(lambda: len(smtp.to(email)) == 10)
    await asyncio.sleep(0.5)
    assert len(smtp.to(email)) == 10


async def test_no_code_for_suspended_or_sso_users(app_client: Client, smtp: RecordingSmtp) -> None:
    """Suspended and non-password accounts get 204 and no mail."""
    await add_user(app_client, "jo@corp.example", status="suspended")
    await add_user(app_client, "kai@corp.example", login_type="oidc")
    for email in ("jo@corp.example", "kai@corp.example"):
        assert (await app_client.post(REQUEST, json={"email": email})).status == 204
    await asyncio.sleep(0.5)
    assert smtp.messages == []


async def test_code_is_stored_only_as_a_keyed_mac(app_client: Client, smtp: RecordingSmtp) -> None:
    """After delivery no Redis value holds the code; the code key's TTL is OTP_TTL."""
    user = await add_user(app_client, "lu@corp.example")
    code = await request_code(app_client, smtp, "lu@corp.example")
    redis = app_client.app[keys.REDIS]
    await wait_until(lambda: True)
    found: list[str] = []
    async for key in redis.scan_iter("*"):
        values: list[Any]
        kind = await redis.type(key)
        if kind == "string":
            values = [await redis.get(key)]
        elif kind == "hash":
            values = list((await redis.hgetall(key)).values())
        elif kind == "stream":
            values = [str(e) for e in await redis.xrange(key) or []]
        elif kind == "zset":
            values = await redis.zrange(key, 0, -1)
        else:
            values = []
        found += [key for v in values if code in str(v)]
    assert found == []
    ttl = await redis.ttl(store_keys.otp(user.id))
    assert 590 <= ttl <= 600


async def test_request_timing_does_not_reveal_accounts(
    make_client: MakeClient, smtp: RecordingSmtp
) -> None:
    """Medians of otp/request for known and unknown addresses are close (generous bound)."""
    # Per-IP limits off: this measures the handler, 400 requests from one address.
    app_client = await make_client(
        smtp_host="127.0.0.1", smtp_port=smtp.port, login_rate_limit=-1, api_rate_limit=-1
    )
    await add_user(app_client, "tim@corp.example")

    async def median(email: str) -> float:
        samples = []
        for _ in range(100):
            start = time.perf_counter()
            resp = await app_client.post(REQUEST, json={"email": email})
            samples.append(time.perf_counter() - start)
            assert resp.status == 204
        return statistics.median(samples)

    # Interleave to share the machine's noise; the rate limit is per IP and endpoint.
    known, unknown = [], []
    for _ in range(2):
        known.append(await median("tim@corp.example"))
        unknown.append(await median("nobody@corp.example"))
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.7 < ratio < 1.4, ratio
