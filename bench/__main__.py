"""authsvc's benchmark: `python -m bench [--seconds 10] [--out bench/results]`.

Starts its own redis-server on a free loopback port, the service, and a baseline aiohttp app;
drives them with wrk (Debian package, installed when missing); prints a table and writes
`latest.json` and `latest.png` to --out. Every figure that matters is a ratio against a
baseline measured in the same run, because shared machines are noisy.

Scenarios:
  baseline           the same aiohttp + pydantic stack, JSON POST of the same size, no Redis/auth
  authcheck x1 / x2  10-check authcheck with a session token, 1 and 2 processes (SO_REUSEPORT)
  new batches        the same with one key renamed at random: a batch not seen lately
  scoped token       the same with a scoped API token
  resource ids       10 checks naming registered templates
  10,000 tokens      10,000 distinct session tokens of 20 users, one at random per request
  rate limit on      the default settings: the API rate limit on (raised: never refuses)
  login              password login with the default argon2id parameters, against the ceiling
                     cores / argon2 verify time (measured just before and after, averaged);
                     three such pairs, the median reported
  authcheck+login    authcheck p99 while logins saturate the hashing pool
  session memory     Redis bytes per live session over 10,000 sessions of 20 users
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.auth.passwords import PasswordHasher  # noqa: E402
from service.auth.sessions import Session, hash_secret  # noqa: E402
from tests.support import ServeProcess, free_port, start_redis  # noqa: E402

SECRET = "benchmark-secret-key-0123456789"
PASSWORD = "Bench-Password-2026!"
CHECKS = {
    f"check-{i}": {
        "action": ["read", "update", "create", "delete"][i % 4],
        "object": {
            "resource_type": ["workspace", "template", "user", "group", "file"][i % 5],
            **({"owner_id": "me"} if i % 2 else {}),
        },
    }
    for i in range(10)
}


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float
    errors: int


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    print("installing wrk (Debian package) ...", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk") or "wrk"


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    binary: str,
    url: str,
    body: Any,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    threads: int = 1,
    tokens: list[str] | None = None,
    vary: str | None = None,
) -> tuple[float, float, float, int, int]:
    """Run wrk; returns (requests/s, p50 ms, p99 ms, requests, non-2xx+errors). With `tokens`,
    every request carries one of them, picked at random; with `vary`, every request's body has
    that text replaced by a random number (a batch the service has not seen lately)."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    lua_headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script.write(
        f'wrk.method = "POST"\nwrk.body = [[{json.dumps(body)}]]\n'
        f'wrk.headers["Content-Type"] = "application/json"\n{lua_headers}'
    )
    if tokens:
        script.write("tokens = {" + ",".join(f'"{t}"' for t in tokens) + "}\n")
    if tokens or vary:
        script.write(
            "request = function()\n"
            + (
                '  wrk.headers["Coder-Session-Token"] = tokens[math.random(#tokens)]\n'
                if tokens
                else ""
            )
            + (
                f'  local body = string.gsub(wrk.body, "{vary}", '
                "tostring(math.random(1, 2000000000)))\n"
                "  return wrk.format(nil, nil, nil, body)\nend\n"
                if vary
                else "  return wrk.format()\nend\n"
            )
        )
    script.close()
    out = subprocess.run(
        [
            binary,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--latency",
            "-s",
            script.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: the thread stats' "+/- Stdev" column (e.g. "75.50%") also ends in "50%".
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return rps, p50, p99, total, failed


def measure(
    name: str,
    binary: str,
    url: str,
    body: Any,
    headers: dict[str, str],
    seconds: float,
    pids: list[int],
    connections: int = 32,
    tokens: list[str] | None = None,
    vary: str | None = None,
) -> Result:
    before = cpu_seconds(pids)
    rps, p50, p99, total, failed = wrk(
        binary, url, body, headers, seconds, connections, tokens=tokens, vary=vary
    )
    cpu = (cpu_seconds(pids) - before) / max(total, 1) * 1e6
    result = Result(name, rps, p50, p99, cpu, failed)
    print(
        f"  {name:<28} {rps:>9.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
        f"cpu {cpu:6.0f} µs/req  errors {failed}",
        flush=True,
    )
    return result


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def get(url: str, headers: dict[str, str]) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        return json.loads(resp.read())


def put(url: str, body: Any, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def start_baseline(port: int, reuse: bool = False) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "bench.baseline", str(port)] + (["--reuse-port"] if reuse else [])
    process = subprocess.Popen(args, cwd=ROOT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            post(f"http://127.0.0.1:{port}/api/v2/authcheck", {"checks": {}})
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("baseline did not start")


def verify_seconds(samples: int = 30) -> float:
    hasher = PasswordHasher(19456, 2, 1)
    hashed = hasher.hash(PASSWORD)
    start = time.perf_counter()
    for _ in range(samples):
        hasher.verify(hashed, PASSWORD)
    return (time.perf_counter() - start) / samples


def browser_session(key_id: str, user_id: str, secret: str, now: float) -> Session:
    """A day-long password session of `user_id` whose key is `key_id`-`secret`."""
    return Session(
        key_id, user_id, hash_secret(secret), now, now + 86400, now, 86400, "password", "10.0.0.1"
    )


async def seed_tokens(redis_url: str, users: int, count: int) -> list[str]:
    """`count` live sessions of `users` new users, written straight into Redis; their tokens."""
    import secrets
    import string

    from service.auth.users import NewUser, UserDirectory
    from service.store.redis import connect
    from service.store.sessions import RedisSessionStore
    from service.store.users import RedisUserStore

    alphabet = string.ascii_letters + string.digits
    client = connect(redis_url, timeout=10)
    try:
        directory = UserDirectory(RedisUserStore(client), time.time)
        ids = []
        for i in range(users):
            user = await directory.create(NewUser(f"m{i}@bench.example", f"m{i}"))
            assert user is not None
            ids.append(user.id)
        store = RedisSessionStore(client, 30 * 86400)
        now = time.time()
        tokens = []
        for start in range(0, count, 20):
            batch = []
            for i in range(start, min(start + 20, count)):
                key_id = "".join(secrets.choice(alphabet) for _ in range(10))
                secret = "".join(secrets.choice(alphabet) for _ in range(22))
                tokens.append(f"{key_id}-{secret}")
                batch.append(store.put(browser_session(key_id, ids[i % users], secret, now)))
            await asyncio.gather(*batch)
        return tokens
    finally:
        await client.aclose()


async def session_memory(redis_url: str, count: int, users: int = 20) -> float:
    """Redis bytes per live browser session: `used_memory` grown by `count` sessions of
    `users` users, everything a session costs included (its key, its TTL, what indexes it),
    read once Redis has finished growing its key tables (an incremental rehash holds both the
    old and the new table for a moment)."""
    from service.store.redis import connect
    from service.store.sessions import RedisSessionStore

    client = connect(redis_url.rsplit("/", 1)[0] + "/1", timeout=5)

    async def settled() -> int:
        last = -1
        while True:
            await asyncio.sleep(0.3)  # activerehashing runs on Redis's 100 ms cron
            used = int((await client.info("memory"))["used_memory"])
            if used == last:
                return used
            last = used

    try:
        await client.flushdb()
        store = RedisSessionStore(client, 30 * 86400)
        before = await settled()
        now = time.time()
        ids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(users)]
        # One write at a time on the one connection already open: more connections would
        # add their client buffers to the figure.
        for i in range(count):
            await store.put(browser_session(f"{i:010d}", ids[i % len(ids)], str(i), now))
        after = await settled()
        await client.flushdb()
        return (after - before) / count
    finally:
        await client.aclose()


def chart(results: dict[str, Result], ratios: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    left.barh(names, [results[n].rps for n in names], color="#2563eb")
    left.set_xlabel("requests / s (higher is better)")
    left.invert_yaxis()
    right.barh(names, [results[n].p99_ms for n in names], color="#7c3aed")
    right.set_xlabel("p99 latency, ms (lower is better)")
    right.invert_yaxis()
    right.set_yticklabels([])
    figures = [f"{k.removesuffix(' ratio')} {v:.2f}" for k, v in ratios.items() if "ratio" in k]
    lines = [", ".join(figures[i : i + 3]) for i in range(0, len(figures), 3)]
    fig.suptitle("authsvc benchmark (ratios):\n" + "\n".join(lines), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    binary = ensure_wrk()
    cores = os.cpu_count() or 1
    redis = start_redis()
    processes: list[Any] = []
    results: dict[str, Result] = {}
    try:
        env = {
            "AUTHSVC_REDIS_URL": redis.url,
            "AUTHSVC_SECRET_KEY": SECRET,
            "AUTHSVC_DEV_MAIL_TO_LOG": "true",
            "AUTHSVC_CONFIG_DIR": str(ROOT / "config"),
            # Limits off: the benchmark sends far more than 512 requests a minute from one address.
            "AUTHSVC_API_RATE_LIMIT": "-1",
            "AUTHSVC_LOGIN_RATE_LIMIT": "-1",
            "AUTHSVC_LOGIN_FAILURE_LIMIT": "-1",
            "AUTHSVC_REUSE_PORT": "true",
        }
        print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
        base_port = free_port()
        baseline = start_baseline(base_port)
        processes.append(baseline)
        print("scenarios:", flush=True)
        results["baseline"] = measure(
            "baseline (JSON POST)",
            binary,
            f"http://127.0.0.1:{base_port}/api/v2/authcheck",
            {"checks": CHECKS},
            {},
            args.seconds,
            [baseline.pid],
        )

        first = ServeProcess(env)
        processes.append(first)
        post(
            f"{first.url}/api/v2/users/first",
            {"email": "bench@bench.example", "username": "bench", "password": PASSWORD},
        )
        token = post(
            f"{first.url}/api/v2/users/login",
            {"email": "bench@bench.example", "password": PASSWORD},
        )["session_token"]
        headers = {"Coder-Session-Token": token}
        url = f"{first.url}/api/v2/authcheck"
        results["authcheck x1"] = measure(
            "authcheck x1",
            binary,
            url,
            {"checks": CHECKS},
            headers,
            args.seconds,
            [first.process.pid],
        )
        # The same with the API rate limit on (as by default), raised so that it never refuses;
        # right after the run with it off, which it is compared with.
        limited = ServeProcess({**env, "AUTHSVC_API_RATE_LIMIT": "1000000000"})
        processes.append(limited)
        results["authcheck rate limit on"] = measure(
            "authcheck x1, API rate limit on",
            binary,
            f"{limited.url}/api/v2/authcheck",
            {"checks": CHECKS},
            headers,
            args.seconds,
            [limited.process.pid],
        )
        limited.stop()
        processes.remove(limited)
        # A batch the service has not seen lately on every request (one key renamed at
        # random): what a batch costs when its reading is not remembered (BatchReader).
        fresh = {"check-VARY" if k == "check-0" else k: v for k, v in CHECKS.items()}
        results["authcheck new batches"] = measure(
            "authcheck x1, a new batch each",
            binary,
            url,
            {"checks": fresh},
            headers,
            args.seconds,
            [first.process.pid],
            vary="VARY",
        )
        # The same batch with an API token narrowed by scopes and an allow-list.
        scoped = post(
            f"{first.url}/api/v2/users/me/keys/tokens",
            {
                "token_name": "bench",
                "scopes": ["coder:workspaces.operate", "template:read"],
                "allow_list": ["workspace:*", "template:*"],
            },
            headers,
        )["key"]
        results["authcheck scoped token"] = measure(
            "authcheck x1, scoped token",
            binary,
            url,
            {"checks": CHECKS},
            {"Coder-Session-Token": scoped},
            args.seconds,
            [first.process.pid],
        )
        # Ten checks naming registered templates (resource_id) against the same ten without.
        templates = [str(uuid.uuid4()) for _ in range(10)]
        me = get(f"{first.url}/api/v2/users/me", headers)
        for template in templates:
            put(
                f"{first.url}/api/v2/authz/objects/template/{template}",
                {"organization_id": me["organization_ids"][0]},
                headers,
            )
        resource_checks = {
            f"check-{i}": {
                "action": ["read", "update", "use", "delete"][i % 4],
                "object": {"resource_type": "template", "resource_id": template},
            }
            for i, template in enumerate(templates)
        }
        results["authcheck resource checks"] = measure(
            "authcheck x1, 10 resource_ids",
            binary,
            url,
            {"checks": resource_checks},
            headers,
            args.seconds,
            [first.process.pid],
        )
        # Many callers: 10,000 distinct session tokens of 20 users, one at random per request
        # (the in-process caches rarely hold the token).
        many = asyncio.run(seed_tokens(redis.url, 20, 10_000))
        results["authcheck many tokens"] = measure(
            "authcheck x1, 10,000 tokens",
            binary,
            url,
            {"checks": CHECKS},
            {},
            args.seconds,
            [first.process.pid],
            tokens=many,
        )
        # The baseline again, now that the authcheck scenarios ran: a shared host's speed
        # drifts, and every ratio against the baseline uses the mean of the two runs.
        baseline_again = measure(
            "baseline (JSON POST), again",
            binary,
            f"http://127.0.0.1:{base_port}/api/v2/authcheck",
            {"checks": CHECKS},
            {},
            args.seconds,
            [baseline.pid],
        )
        baseline.terminate()
        baseline.wait()
        processes.remove(baseline)
        first_run = results["baseline"]
        results["baseline"] = Result(
            "baseline",
            (first_run.rps + baseline_again.rps) / 2,
            (first_run.p50_ms + baseline_again.p50_ms) / 2,
            (first_run.p99_ms + baseline_again.p99_ms) / 2,
            (first_run.cpu_us_per_req + baseline_again.cpu_us_per_req) / 2,
            first_run.errors + baseline_again.errors,
        )
        # One process again right before two, for the scaling ratio (same reason).
        results["authcheck x1 before x2"] = measure(
            "authcheck x1 (before x2)",
            binary,
            url,
            {"checks": CHECKS},
            headers,
            args.seconds,
            [first.process.pid],
        )
        second = ServeProcess(env, port=first.port)
        processes.append(second)
        results["authcheck x2"] = measure(
            "authcheck x2",
            binary,
            url,
            {"checks": CHECKS},
            headers,
            args.seconds,
            [first.process.pid, second.process.pid],
            connections=64,
        )
        second.stop()
        processes.remove(second)

        # The ceiling is measured just before and just after the logins and averaged: the
        # machine's speed drifts (a shared host), and the two must be measured alike. Three
        # such pairs; the figure is the median pair (single pairs ranged 0.78-0.94).
        login_body = {"email": "bench@bench.example", "password": PASSWORD}
        pairs = []
        for attempt in range(3):
            verify_before = verify_seconds()
            run = measure(
                f"login ({attempt + 1} of 3)",
                binary,
                f"{first.url}/api/v2/users/login",
                login_body,
                {},
                args.seconds,
                [first.process.pid],
                connections=cores * 4,
            )
            verify_after = verify_seconds()
            pair_verify = (verify_before + verify_after) / 2
            pairs.append((run.rps / (cores / pair_verify), run, pair_verify))
            print(f"    argon2 verify {pair_verify * 1000:.2f} ms; ratio {pairs[-1][0]:.2f}")
        pairs.sort(key=lambda pair: pair[0])
        _, results["login"], verify = pairs[1]
        login_pairs = [pair[0] for pair in pairs]
        ceiling = cores / verify
        rest = measure(
            "authcheck at rest (c=8)",
            binary,
            url,
            {"checks": CHECKS},
            headers,
            args.seconds,
            [first.process.pid],
            connections=8,
        )
        results["authcheck at rest"] = rest
        # Logins saturate the hashing pool from a second wrk, started from a thread.
        loader = ThreadPoolExecutor(max_workers=1).submit(
            wrk,
            binary,
            f"{first.url}/api/v2/users/login",
            login_body,
            {},
            args.seconds + 2,
            cores * 4,
        )
        time.sleep(1)
        results["authcheck during logins"] = measure(
            "authcheck during logins (c=8)",
            binary,
            url,
            {"checks": CHECKS},
            headers,
            args.seconds,
            [first.process.pid],
            connections=8,
        )
        loader.result()
        per_session = asyncio.run(session_memory(redis.url, args.sessions))
        print(
            f"  session memory               {per_session:.0f} bytes per session "
            f"({args.sessions} sessions)"
        )
    finally:
        for p in processes:
            if isinstance(p, ServeProcess):
                p.stop()
            elif p.poll() is None:
                p.terminate()
                p.wait()
        redis.stop()

    ratios = {
        "authcheck default settings / baseline ratio": results["authcheck rate limit on"].rps
        / results["baseline"].rps,
        "authcheck x1 / baseline ratio": results["authcheck x1"].rps / results["baseline"].rps,
        "authcheck new batches / baseline ratio": results["authcheck new batches"].rps
        / results["baseline"].rps,
        "authcheck x2 / x1 ratio": results["authcheck x2"].rps
        / results["authcheck x1 before x2"].rps,
        "authcheck scoped token / session ratio": results["authcheck scoped token"].rps
        / results["authcheck x1"].rps,
        "authcheck 10,000 tokens / baseline ratio": results["authcheck many tokens"].rps
        / results["baseline"].rps,
        "authcheck rate limit on / off ratio": results["authcheck rate limit on"].rps
        / results["authcheck x1"].rps,
        "authcheck 10 resource_ids / plain ratio": results["authcheck resource checks"].rps
        / results["authcheck x1"].rps,
        "login / hashing ceiling ratio": results["login"].rps / ceiling,
        "authcheck p99 during logins / at rest ratio": results["authcheck during logins"].p99_ms
        / results["authcheck at rest"].p99_ms,
        "argon2 verify ms": verify * 1000,
        "login / hashing ceiling, lowest pair": login_pairs[0],
        "login / hashing ceiling, highest pair": login_pairs[2],
        "hashing ceiling logins/s": ceiling,
        "redis bytes per session": per_session,
    }
    targets = {
        "authcheck default settings / baseline ratio": ">= 0.70",
        "authcheck x2 / x1 ratio": ">= 1.6",
        "authcheck scoped token / session ratio": ">= 0.90",
        "authcheck rate limit on / off ratio": ">= 0.90",
        "authcheck 10,000 tokens / baseline ratio": ">= 0.45",
        "login / hashing ceiling ratio": ">= 0.85",
        "authcheck p99 during logins / at rest ratio": "<= 3",
        "redis bytes per session": "<= 300",
    }
    print("\nfigure                                        value     target")
    for key, value in ratios.items():
        print(f"{key:<45} {value:>8.2f}   {targets.get(key, '')}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(
        json.dumps(
            {
                "machine": {
                    "arch": platform.machine(),
                    "cores": cores,
                    "python": platform.python_version(),
                },
                "seconds": args.seconds,
                "results": {k: asdict(v) for k, v in results.items()},
                "figures": ratios,
                "targets": targets,
            },
            indent=2,
        )
    )
    chart(results, ratios, args.out / "latest.png")
    print(f"\nwrote {args.out / 'latest.json'} and {args.out / 'latest.png'}")


if __name__ == "__main__":
    main()
