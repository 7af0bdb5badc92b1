"""How fast is the notice lint, compared with rendering the notices it checks?

    .venv/bin/python bench/notice_lint.py [--notices N] [--repeats R] [--pii-share F] [--profile]

Renders N notices (10,000) from the built-in templates with varied incident facts, about a
fifth of them with personal data sprinkled into a fact (an email address, a phone or card
number, an IP address, an API key, a person's name), then in the same run times:

  render              Catalogue.render, text format, for every notice
  lint                core.notice_lint.lint over the rendered texts
  render + lint       Catalogue.draft: what a review card costs

and prints notices/second for each (target for lint: over 2,000 a second on one core), the
mean notice length, and how many notices had blocking findings. `--profile` prints where
lint spends its time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
from collections import Counter
from typing import Any

from timing import best_of

from commandpost.core.notice_lint import Channel, lint
from commandpost.core.vocabulary import Severity
from commandpost.notices import Catalogue

TEMPLATES = (
    "customer_initial",
    "customer_update",
    "customer_resolved",
    "regulator_notification",
    "leadership_update",
    "status_page",
)
PRODUCTS = ("Harper Assistant", "Atlas Agent", "Morgan Copilot", "Only Connect", "Ellis Docs")
BEHAVIOURS = (
    "gave unsafe dosage advice in answer to some questions about medication",
    "showed parts of other users' conversations in its answers",
    "invented refund policy exceptions for customers who asked about returns",
    "ran shell commands that deleted files in connected repositories",
    "produced hateful replies to prompts about a religious festival",
    "cited court cases that do not exist in answers about tenancy law",
)
SHORT = ("unsafe medical advice", "other users' data in answers", "invented policies")
WHO = (
    "People who asked {p} about medication in the EU region",
    "Workspaces that connected {p} to a code repository",
    "Customers who used {p} for support chats",
    "Everyone who used {p} in the mobile app",
)
NEXT = (
    "We are reviewing every affected conversation and will contact the customers concerned.",
    "We are checking every action the agent took and will restore deleted files from backups.",
    "We will keep the feature off until the recovery checks pass.",
)
PII = (
    "Some answers included jane.doe@gmail.com.",
    "One reply read out the number +44 20 7946 0958.",
    "An answer repeated the card number 4111 1111 1111 1111.",
    "Logs showed requests from 203.0.113.42.",
    "A reply contained the key sk-proj-Q8v2Lm9Xa3Rt7Kp1Zs5Wd4Hn6.",
    "Ms. Harper reported it first.",
)


def facts_for(i: int, rng: random.Random, pii_share: float) -> dict[str, Any]:
    product = PRODUCTS[i % len(PRODUCTS)]
    hour, minute = rng.randrange(0, 20), rng.randrange(0, 40)
    day = rng.randrange(1, 28)
    when = f"on {day} March 2026"
    observed = f"{product} {rng.choice(BEHAVIOURS)}."
    if rng.random() < pii_share:
        observed += " " + rng.choice(PII)
    return {
        "company": "Example AI",
        "organisation": "Example AI Ltd",
        "regulator": "Information Commissioner's Office",
        "product": product,
        "incident_id": f"INC-2026-{i % 9999 + 1:04d}",
        "title": f"{product}: {rng.choice(SHORT)}",
        "severity": f"SEV{i % 4}",
        "status": "contained",
        "commander": "Alice Moreau",
        "observed": observed,
        "summary": rng.choice(SHORT),
        "update": "We have finished reviewing the affected conversations.",
        "detected_at": f"{hour:02d}:{minute:02d} UTC {when}",
        "contained_at": f"{hour:02d}:{minute + 15:02d} UTC {when}",
        "resolved_at": f"{hour + 3:02d}:{minute:02d} UTC {when}",
        "containment": f"We rolled {product} back to the previous model version.",
        "affected": rng.choice(WHO).format(p=product) + ".",
        "affected_summary": "medication questions in the EU",
        "people_affected": f"about {rng.randrange(10, 5000):,}",
        "measures": "We rolled the model back and added a stricter safety filter.",
        "next_steps": rng.choice(NEXT),
        "next_update_at": f"{hour + 2:02d}:00 UTC",
        "contact": "support@example.com",
        "review_due": f"{day + 1} April 2026",
    }


def row(label: str, n: int, seconds: float) -> str:
    return f"  {label:<16} {n / seconds:>10,.0f} notices/s  {seconds * 1000:9.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=10_000, help="how many (10,000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (3)")
    parser.add_argument("--pii-share", type=float, default=0.2, help="share with PII (0.2)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="profile lint")
    args = parser.parse_args(argv)
    n = args.notices

    rng = random.Random(args.seed)
    catalogue = Catalogue()
    jobs = [(TEMPLATES[i % len(TEMPLATES)], facts_for(i, rng, args.pii_share)) for i in range(n)]
    contexts = [
        catalogue.lint_context(
            name, facts, severity=Severity(facts["severity"]), root_cause_known=False
        )
        for name, facts in jobs
    ]
    texts = [catalogue.render(name, facts).text for name, facts in jobs]

    def render_all() -> None:
        for name, facts in jobs:
            catalogue.render(name, facts)

    def lint_all() -> None:
        for text, context in zip(texts, contexts, strict=True):
            lint(text, context)

    def draft_all() -> None:
        for name, facts in jobs:
            catalogue.draft(
                name, facts, severity=Severity(facts["severity"]), root_cause_known=False
            )

    t_render = best_of(args.repeats, render_all)
    t_lint = best_of(args.repeats, lint_all)
    t_draft = best_of(args.repeats, draft_all)

    findings = [lint(text, context) for text, context in zip(texts, contexts, strict=True)]
    blocked = sum(1 for f in findings if any(x.blocking for x in f))
    rules = Counter(x.rule for f in findings for x in f)
    mean = sum(map(len, texts)) / n
    status = [t for t, c in zip(texts, contexts, strict=True) if c.channel is Channel.STATUS_PAGE]

    print(f"notice lint: {n:,} notices from {len(TEMPLATES)} templates, {mean:.0f} characters")
    print(f"  on average (status page {sum(map(len, status)) / max(1, len(status)):.0f});")
    print(f"  python {sys.version.split()[0]}, one process, best of {args.repeats}")
    print(f"  {'':<16} {'throughput':>20}  {'time':>12}")
    print(row("render", n, t_render))
    print(row("lint", n, t_lint))
    print(row("render + lint", n, t_draft))
    verdict = "meets" if n / t_lint > 2000 else "MISSES"
    print(f"lint {verdict} the 2,000 notices/s target; it costs {t_lint / t_render:.2f}x rendering")
    by_rule = ", ".join(f"{rule} {count:,}" for rule, count in rules.most_common()) or "none"
    print(f"{blocked:,} notices had blocking findings; findings by rule: {by_rule}")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        lint_all()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
