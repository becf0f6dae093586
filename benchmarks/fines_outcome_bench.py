"""Time to the final state of fines payments, partners failing: request → PAYE / REJETE / ECHEC / REMBOURSE.

Starts everything real on loopback: PostgreSQL, Redis, both partner simulators (latency
0.1–1 s, 30 % of calls answer 504; of the writes behind a 504, --late-share are applied
later — within --late-max seconds — and --lost-share never), and --workers `flask worker`
processes with the production saga settings (config.py defaults). Then it posts --count
payments through the API at --rate per second (the seeded citizens: by i mod 10 some are
rejected, refunded or refused, see the simulators), waits until every one is final, and
prints the distribution of `completed_at - created_at` (from the database), per outcome,
and the partners' own count of what was applied: zero double debits, refunds or marks.

    .venv/bin/python benchmarks/fines_outcome_bench.py [--count 200] [--rate 2] [--workers 16]
        [--fail-rate 0.3] [--late-share 0.25] [--lost-share 0.5] [--late-max 60]
        [--repeat prompt|grace]

--repeat grace runs the same load with both partners in the old mode (wait out
FINES_REWRITE_GRACE_SECONDS before repeating a write), for comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Stack  # noqa: E402

KEY = "demo-amendes-2026"
FINAL = {"PAYE", "REJETE", "ECHEC", "REMBOURSE", "CLOTURE"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def distribution(values: list[float]) -> str:
    if not values:
        return "—"
    return (
        f"n={len(values):<4} p50 {percentile(values, 0.5):6.1f} s   p90 {percentile(values, 0.9):6.1f} s   "
        f"p95 {percentile(values, 0.95):6.1f} s   p99 {percentile(values, 0.99):6.1f} s   max {max(values):6.1f} s   "
        f"mean {statistics.fmean(values):6.1f} s"
    )


def payment_body(i: int) -> dict:
    from backoffice.simulators.fines import citizens

    citizen = citizens(i)[i - 1]
    return {
        "reference": f"KIOSQUE-{i:06d}",
        "telephone": citizen["telephone"],
        "amendes": [f["numero"] for f in citizen["amendes"]],
        "montant": sum(f["montant"] for f in citizen["amendes"]),
        "devise": "XOF",
    }


def phases(app, rows) -> None:
    """Where the time goes: request → verified → debit settled → final (payments that were debited)."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.fines import FinePaymentEvent

    with app.app_context():
        marks = db.session.execute(
            select(FinePaymentEvent.payment_id, FinePaymentEvent.step, FinePaymentEvent.created_at).where(
                FinePaymentEvent.step.in_(["VERIFIE", "DEBITE"])
            )
        ).all()
        db.session.remove()
    at = {(m.payment_id, m.step): m.created_at for m in marks}
    spans: dict[str, list[float]] = {"request → verified": [], "verified → debited": [], "debited → final": []}
    for row in rows:
        verified, debited = at.get((row.id, "VERIFIE")), at.get((row.id, "DEBITE"))
        if verified is None or debited is None or row.completed_at is None:
            continue
        spans["request → verified"].append((verified - row.created_at).total_seconds())
        spans["verified → debited"].append((debited - verified).total_seconds())
        spans["debited → final"].append((row.completed_at - debited).total_seconds())
    for name, values in spans.items():
        print(f"  {name:<20} {distribution(values)}")


def explain(app, rows, count: int) -> None:
    """The timeline of the slowest payments: seconds since the request, step, message."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.fines import FinePaymentEvent

    done = [r for r in rows if r.completed_at is not None]
    done.sort(key=lambda r: r.completed_at - r.created_at, reverse=True)
    with app.app_context():
        for row in done[:count]:
            print(f"\n{row.id} {row.status} {(row.completed_at - row.created_at).total_seconds():.1f} s")
            events = db.session.scalars(
                select(FinePaymentEvent).where(FinePaymentEvent.payment_id == row.id).order_by(FinePaymentEvent.id)
            )
            for e in events:
                print(f"  {(e.created_at - row.created_at).total_seconds():6.1f}  {e.step:<22} {e.message[:90]}")
        db.session.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="payments posted per second")
    parser.add_argument("--workers", type=int, default=16, help="`flask worker` processes")
    parser.add_argument("--latency-min", type=float, default=0.1)
    parser.add_argument("--latency-max", type=float, default=1.0)
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--late-share", type=float, default=0.25)
    parser.add_argument("--lost-share", type=float, default=0.5)
    parser.add_argument("--late-max", type=float, default=60.0)
    parser.add_argument("--repeat", choices=["prompt", "grace"], default="prompt")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting after (s)")
    parser.add_argument("--explain", type=int, default=0, help="print the timeline of the N slowest payments")
    args = parser.parse_args()

    faults = [
        "--latency-min", str(args.latency_min), "--latency-max", str(args.latency_max),
        "--fail-rate", str(args.fail_rate), "--late-share", str(args.late_share),
        "--lost-share", str(args.lost_share), "--late-max", str(args.late_max),
        "--seed", str(args.seed), "--citizens", str(max(args.count, 10)), "--quiet",
    ]  # fmt: skip
    env = {"APP_ENV": "benchmark", "FINES_REGISTRY_REPEAT": args.repeat, "MOMO_REPEAT": args.repeat}
    with Stack("fines-outcome", env=env, simulators={"fines": faults, "momo": faults}, stop_wait=10) as stack:
        fines, momo = stack.simulators["fines"], stack.simulators["momo"]
        app = stack.app()
        for n in range(args.workers):
            stack.popen(stack.flask("worker", "--name", f"outcome-{n}"))
        from sqlalchemy import func, select

        from backoffice.extensions import db
        from backoffice.models.fines import FinePayment

        client = app.test_client()
        headers = {"Authorization": f"Bearer {KEY}"}
        print(
            f"partners: latency {args.latency_min}–{args.latency_max} s, {args.fail_rate:.0%} 504s; of the writes "
            f"behind a 504 {args.late_share:.0%} applied late (≤ {args.late_max:.0f} s), {args.lost_share:.0%} never; "
            f"repeat mode: {args.repeat}"
        )
        print(f"{args.count} payments at {args.rate}/s, {args.workers} workers, saga settings: config.py defaults\n")
        time.sleep(3)  # workers up
        t0 = time.monotonic()
        for i in range(1, args.count + 1):
            due = t0 + (i - 1) / args.rate
            if (pause := due - time.monotonic()) > 0:
                time.sleep(pause)
            response = client.post("/amendes/payments/", data=json.dumps(payment_body(i)), headers=headers,
                                   content_type="application/json")  # fmt: skip
            assert response.status_code == 202, response.get_json()
        deadline = time.monotonic() + args.timeout
        with app.app_context():
            while time.monotonic() < deadline:
                waiting = db.session.scalar(
                    select(func.count()).select_from(FinePayment).where(FinePayment.status.not_in(FINAL))
                )
                db.session.remove()
                if not waiting:
                    break
                time.sleep(1.0)
            rows = db.session.execute(
                select(FinePayment.id, FinePayment.status, FinePayment.created_at, FinePayment.completed_at)
            ).all()
        print(f"all submitted and settled after {time.monotonic() - t0:.0f} s of wall time")
        times: dict[str, list[float]] = {}
        unfinished = []
        for row in rows:
            if row.completed_at is None:
                unfinished.append((row.id, row.status))
                continue
            times.setdefault(row.status, []).append((row.completed_at - row.created_at).total_seconds())
        everything = [t for values in times.values() for t in values]
        print(f"\ntime to final   all      {distribution(everything)}")
        for status in sorted(times):
            print(f"                {status:<9}{distribution(times[status])}")
        print(f"not final: {len(unfinished)} {unfinished[:5]}")
        phases(app, rows)
        if args.explain:
            explain(app, rows, args.explain)

        time.sleep(min(args.late_max, 60) + 1)  # let every late write land before counting
        money = requests.get(f"{momo.url}/_admin/stats", timeout=30).json()
        marks = requests.get(f"{fines.url}/_admin/stats", timeout=30).json()["marks"]
        double_debits = [k for k, v in money["debits"].items() if v["applied"] > 1]
        double_refunds = [k for k, v in money["refunds"].items() if v["applied"] > 1]
        double_marks = [k for k, v in marks.items() if v["applied"] > 1]
        posts = sum(v["posts"] for v in money["debits"].values())
        repeated = sum(1 for v in money["debits"].values() if v["posts"] > 1)
        print(
            f"partners: {len(money['debits'])} debits ({posts} POSTs, {repeated} repeated with the same id), "
            f"{len(money['refunds'])} refunds, {len(marks)} marks; applied twice: debits {len(double_debits)}, "
            f"refunds {len(double_refunds)}, marks {len(double_marks)}"
        )
        return 1 if unfinished or double_debits or double_refunds or double_marks else 0


if __name__ == "__main__":
    raise SystemExit(main())
