"""Micro-benchmark of the authz engine: single-check evaluations per second on one core.

    python -m bench.authz_engine [--seconds 2]

Subjects: an owner, a member, and a member of 20 organizations (with org roles in each).
Questions cycle through 264 distinct (type, action, object shape) combinations.
- warm: the subject's compiled role set is cached (the steady state of a running service);
- cold: every pass compiles the role set anew and starts with empty memos (worst case).
The baseline, measured in the same run, is a loop calling a no-op method with the same
arguments; the ratio says how many baseline calls one evaluation costs. The batch figures
compare the per-check cost of AuthChecker.answer for 1-check and 100-check batches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from service.authz.authcheck import AuthChecker, Caller, Check, PolicyHolder
from service.authz.policy import Obj, Policy, RoleSet
from service.authz.resources import load_resources

CONFIG = Path(__file__).resolve().parent.parent / "config"
ME = "11111111-1111-1111-1111-111111111111"
ORGS = [str(uuid.UUID(int=i + 1)) for i in range(20)]
ORG_ROLES = ["organization-admin", "organization-auditor", "organization-template-admin"]


def questions() -> list[tuple[str, Obj]]:
    types = [
        "workspace",
        "template",
        "user",
        "group",
        "file",
        "organization",
        "audit_log",
        "license",
        "api_key",
        "task",
        "no_such_type",
    ]
    actions = ["read", "create", "update", "delete", "ssh", "bogus"]
    shapes = [
        lambda t: Obj(t),
        lambda t: Obj(t, owner=ME),
        lambda t: Obj(t, org=ORGS[3]),
        lambda t: Obj(t, any_org=True),
    ]
    return [(a, shape(t)) for t in types for a in actions for shape in shapes]


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Calls per second of fn (which returns how many evaluations it did)."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += fn()
    return done / elapsed


class _Noop:
    def allowed(self, subject_id: str, action: str, obj: Obj) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    holder = PolicyHolder(CONFIG, load_resources(CONFIG / "resources.yaml"))
    policy: Policy = holder.current
    qs = questions()
    subjects = {
        "owner": RoleSet.of(["owner"], {}),
        "member": RoleSet.of([], {ORGS[0]: []}),
        "member of 20 orgs": RoleSet.of([], {o: [ORG_ROLES[i % 3]] for i, o in enumerate(ORGS)}),
    }

    noop = _Noop()

    def baseline() -> int:
        for action, obj in qs:
            noop.allowed(ME, action, obj)
        return len(qs)

    base = rate(baseline, args.seconds)
    results: dict[str, object] = {"baseline_calls_per_s": round(base)}
    print(f"{'subject':<20}{'warm evals/s':>15}{'ratio':>8}{'cold evals/s':>15}{'ratio':>8}")
    print(f"{'baseline (no-op)':<20}{base:>15,.0f}{1.0:>8.1f}")
    for name, roles in subjects.items():
        subject = policy.subject(roles)

        def warm(subject: object = subject) -> int:
            allowed = subject.allowed  # type: ignore[attr-defined]
            for action, obj in qs:
                allowed(ME, action, obj)
            return len(qs)

        def cold(roles: RoleSet = roles) -> int:
            fresh = Policy(policy.roles, policy.version)  # empty subject cache
            allowed = fresh.subject(roles).allowed
            for action, obj in qs:
                allowed(ME, action, obj)
            return len(qs)

        w, c = rate(warm, args.seconds), rate(cold, args.seconds)
        results[name] = {
            "warm_per_s": round(w),
            "cold_per_s": round(c),
            "warm_ratio": round(base / w, 2),
            "cold_ratio": round(base / c, 2),
        }
        print(f"{name:<20}{w:>15,.0f}{base / w:>8.1f}{c:>15,.0f}{base / c:>8.1f}")

    class Users:
        async def get(self, user_id: str) -> None:
            return None

    checker = AuthChecker(holder, Users())  # type: ignore[arg-type]
    caller = Caller(ME, subjects["member"])
    batch = {
        f"c{i}": Check(a, o.type, o.owner, o.org, "", o.any_org)
        for i, (a, o) in enumerate(qs[:100])
    }
    single = {"c0": batch["c0"]}

    async def per_check(checks: dict[str, Check], seconds: float) -> float:
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            await checker.answer(caller, checks)
            done += len(checks)
        return elapsed / done * 1e6

    one = asyncio.run(per_check(single, args.seconds))
    hundred = asyncio.run(per_check(batch, args.seconds))
    results["batch_us_per_check"] = {"1": round(one, 3), "100": round(hundred, 3)}
    print(
        f"\nAuthChecker.answer, member: {one:.2f} µs/check in a 1-check batch, "
        f"{hundred:.2f} µs/check in a 100-check batch ({one / hundred:.1f}x cheaper per check)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
