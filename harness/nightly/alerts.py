"""Alerts: a model's outcome POSTed as JSON (Slack-compatible) to the plan's webhooks. An alert is
recorded per (key, webhook) in the store and never sent again once delivered; a delivery that failed
after its retries is retried by the next pass. Webhook URLs carry their secret in the path: the
store and the logs keep them redacted."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ..store import Store, now_iso
from ..store.nightly import get_alert, save_alert
from .plan import Plan

log = logging.getLogger("tunebench.schedule")


def redact_url(url: str) -> str:
    """scheme://host/... : webhook URLs carry their secret in the path."""
    m = re.match(r"^(https?://[^/?#]+)", url)
    return (m.group(1) + "/...") if m else "(webhook)"


def _webhook_key(template: str) -> str:
    """What the store keeps of a webhook: redacted, plus a hash to tell two apart."""
    return f"{redact_url(template) if '$' not in template else template} #{hashlib.sha256(template.encode()).hexdigest()[:12]}"


def expand_webhook(template: str) -> str | None:
    """$VAR / ${VAR} read from the environment; None when a variable is unset."""
    missing = [
        m.group(1) or m.group(2)
        for m in re.finditer(r"\$(?:\{(\w+)\}|(\w+))", template)
        if (m.group(1) or m.group(2)) not in os.environ
    ]
    return None if missing else os.path.expandvars(template)


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str | None]:
    """POST `payload` as JSON; retry connection errors, timeouts, 5xx, 408 and 429 with exponential
    backoff (`backoff_s * 2**n`, capped at 60 s), at most `retries` times. Returns (delivered,
    attempts, last error). Never raises."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    attempts = 0
    last: str | None = None
    for i in range(retries + 1):
        attempts += 1
        retryable = True
        try:
            req = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "tunebench-nightly"},
            )
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                resp.read()
                if 200 <= resp.status < 300:
                    return True, attempts, None
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            retryable = e.code >= 500 or e.code in (408, 429)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            last = f"{type(e).__name__}: {reason}"
        log.warning("webhook %s: attempt %d/%d failed: %s", redact_url(url), attempts, retries + 1, last)
        if not retryable or i == retries:
            break
        sleep(min(60.0, backoff_s * 2**i))
    return False, attempts, last


def alert_payload(
    plan: Plan, d: str, m: dict[str, Any], policy_name: str, report: str | None
) -> dict[str, Any]:
    """Slack-compatible: a top-level "text" plus the structured details under "tunebench"."""
    head = {"fail": "FAILED the gate", "error": "had errors", "pass": "passed the gate"}.get(
        m["outcome"], m["outcome"]
    )
    lines = [f"tunebench nightly {plan.name} {d}: {m['name']} ({m['spec']}) {head} (policy {policy_name})"]
    for r in m["failed_rules"]:
        lines.append(f"• FAIL {r['suite']}:{r['metric']} {r['rule']}: {r['reason']}")
    for e in m["errors"]:
        where = f"{e['suite']}: " if e["suite"] else ""
        lines.append(f"• ERROR {where}{e['error']}" + (f" (run {e['run_id']})" if e["run_id"] else ""))
    if report:
        lines.append(f"report: {report}")
    return {
        "text": "\n".join(lines),
        "tunebench": {
            "event": {"fail": "verdict_failed", "error": "run_error", "pass": "verdict_passed"}.get(
                m["outcome"], m["outcome"]
            ),
            "plan": plan.name,
            "date": d,
            "model": m["name"],
            "spec": m["spec"],
            "outcome": m["outcome"],
            "policy": policy_name,
            "verdict_id": m["verdict_id"],
            "failed_rules": m["failed_rules"],
            "errors": m["errors"],
            "runs": {it["suite"]: it["run_id"] for it in m["items"]},
            "report": report,
        },
    }


def send_alerts(
    store: Store,
    plan: Plan,
    d: str,
    m: dict[str, Any],
    policy_name: str,
    report: str | None,
    echo: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Alert every webhook once per (model, outcome, verdict, errored suites); a delivered alert is
    never sent again, a failed one is retried by the next pass."""
    cfg = plan.alerts
    if m["outcome"] not in cfg.on or not cfg.webhooks:
        return []
    errs = ",".join(sorted(str(e["suite"]) for e in m["errors"]))
    key = f"{m['name']}:{m['outcome']}:{m['verdict_id'] or '-'}:{errs}"[:300]
    payload = alert_payload(plan, d, m, policy_name, report)
    out = []
    for template in cfg.webhooks:
        wk = _webhook_key(template)[:1000]
        row = get_alert(store, plan.name, d, key, wk)
        if row and row["status"] == "sent":
            out.append({"webhook": wk, "status": "sent", "attempts": row["attempts"], "repeat": True})
            continue
        url = expand_webhook(template)
        prev = int(row["attempts"]) if row else 0
        err: str | None
        if url is None:
            ok, attempts, err = False, 0, f"environment variable in {template!r} is not set"
            log.warning("webhook %s skipped: %s", template, err)
        else:
            ok, attempts, err = post_webhook(
                url, payload, retries=cfg.retries, backoff_s=cfg.backoff_s, timeout_s=cfg.timeout_s
            )
        values: dict[str, Any] = {
            "status": "sent" if ok else "failed",
            "attempts": prev + attempts,
            "last_error": err,
            "payload": json.dumps(payload, ensure_ascii=False, default=str),
            "updated_at": now_iso(),
        }
        save_alert(store, plan.name, d, key, wk, values, exists=row is not None)
        echo(
            f"  alert {m['name']} ({m['outcome']}) -> {wk}: "
            + ("sent" if ok else f"FAILED after {attempts} attempt(s): {err}")
        )
        out.append({"webhook": wk, "status": values["status"], "attempts": values["attempts"], "error": err})
    return out
