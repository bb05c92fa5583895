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


async def test_new_request_replaces_live_code(app_client: Client, smtp: RecordingSmtp) -> None:
    """Only the newest code works."""
    await add_user(app_client, "eve@corp.example")
    first = await request_code(app_client, smtp, "eve@corp.example")
    second = await request_code(app_client, smtp, "eve@corp.example")
    assert first != second
    assert (await change(app_client, "eve@corp.example", first)).status == 400
    assert (await change(app_client, "eve@corp.example", second)).status == 204


async def test_fifth_wrong_code_voids_the_live_code(
    app_client: Client, smtp: RecordingSmtp
) -> None:
    """After 5 wrong codes, the right code fails too (sixth attempt)."""
    await add_user(app_client, "fay@corp.example")
    code = await request_code(app_client, smtp, "fay@corp.example")
    for _ in range(5):
        assert (await change(app_client, "fay@corp.example", str(uuid.uuid4()))).status == 400
    resp = await change(app_client, "fay@corp.example", code)
    assert resp.status == 400
    assert await resp.json() == INCORRECT


async def test_parallel_guesses_count_exactly(app_client: Client, smtp: RecordingSmtp) -> None:
    """Concurrent wrong guesses are counted exactly: 4 in parallel leave the code alive."""
    user = await add_user(app_client, "gil@corp.example")
    code = await request_code(app_client, smtp, "gil@corp.example")
    results = await asyncio.gather(
        *[change(app_client, "gil@corp.example", str(uuid.uuid4())) for _ in range(4)]
    )
    assert all(r.status == 400 for r in results)
    attempts = await app_client.app[keys.REDIS].hget(store_keys.otp(user.id), "attempts")
    assert attempts == "4"
    assert (await change(app_client, "gil@corp.example", code)).status == 204


async def test_same_code_twice_concurrently(app_client: Client, smtp: RecordingSmtp) -> None:
    """Two concurrent requests with one code: exactly one succeeds."""
    await add_user(app_client, "hal@corp.example")
    code = await request_code(app_client, smtp, "hal@corp.example")
    results = await asyncio.gather(
        change(app_client, "hal@corp.example", code, "First-Choice-11!"),
        change(app_client, "hal@corp.example", code, "Second-Choice-22!"),
    )
    assert sorted(r.status for r in results) == [204, 400]


async def test_three_codes_per_address_per_window(app_client: Client, smtp: RecordingSmtp) -> None:
    """The 4th request within 15 minutes still answers 204, but nothing is sent."""
    await add_user(app_client, "ida@corp.example")
    for _ in range(3):
        await request_code(app_client, smtp, "ida@corp.example")
    resp = await app_client.post(REQUEST, json={"email": "ida@corp.example"})
    assert resp.status == 204
    await asyncio.sleep(0.5)
    assert len(smtp.to("ida@corp.example")) == 3


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
