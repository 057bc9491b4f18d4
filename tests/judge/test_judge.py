"""LLM judges against a real local HTTP server (tests/openai_fault_server.py) through the openai client:
pairwise judging of two mock runs, retries, parse re-asks, the cache, stored raw replies, cost, the
`judge_rubric` scorer inside `run_suite`, and the CLI.

The two runs answer a 20-sample user suite: A answers "alpha x x x x x" (6 words) on every sample, B
answers "beta" plus i words on sample i (1 to 20 words), so len(B) - len(A) = i - 5.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai_fault_server import Fault, FaultServer, status

from harness.cli.main import main as cli
from harness.errors import InputError
from harness.judge import (
    REPARSE_MESSAGE,
    PriceTable,
    judge_usage_for_run,
    load_template,
)
from harness.judge.client import ReplyParseError, parse_json_object
from harness.models import parse_spec
from harness.pairwise import judge_pairwise, parse_pairwise_reply
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite
from reports.console.judge import render_pairwise

N = 20
JUDGE_MODEL = "judge-model"
SUITE_YAML = """\
name: judge-suite
version: "1.0.0"
description: judge tests
dataset:
  path: data/{split}.jsonl
  splits: [train, dev, test]
prompt:
  name: plain
  template: "{input}"
generation:
  max_new_tokens: 32
scorers:
  - {name: exact, type: exact_match}
"""
Responder = Callable[[Any], "str | Fault | None"]


@pytest.fixture(autouse=True)
def _no_proxy_or_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# --------------------------------------------------------------------------- helpers (also used by
# test_judge_reliability.py)


def a_answer(i: int) -> str:
    return "alpha x x x x x"


def b_answer(i: int) -> str:
    return " ".join(["beta"] + ["y"] * i)


def first_user(body: Any) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def last_user(body: Any) -> str:
    return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]


def is_reask(body: Any) -> bool:
    return last_user(body).startswith("Your reply could not be parsed")


def shown(body: Any) -> tuple[str, str]:
    """(answer 1, answer 2) as shown in a pairwise judge prompt."""
    text = first_user(body)
    one = text.split("[Answer 1]\n", 1)[1].split("\n[End of answer 1]", 1)[0]
    two = text.split("[Answer 2]\n", 1)[1].split("\n[End of answer 2]", 1)[0]
    return one, two


def verdict(winner: str, why: str = "scripted") -> str:
    return json.dumps({"reasoning": why, "winner": winner})


def first_position_judge(body: Any) -> str:
    return verdict("1", "the first answer")


def b_judge(body: Any) -> str:
    one, two = shown(body)
    return verdict("1" if one.startswith("beta") else "2", "beta is better")


def longer_judge(body: Any) -> str:
    one, two = shown(body)
    n1, n2 = len(one.split()), len(two.split())
    return verdict("tie" if n1 == n2 else ("1" if n1 > n2 else "2"), "longer is better")


@dataclass
class Env:
    root: Path
    store: Store
    a: str
    b: str

    def judge(self, srv: FaultServer, **kw: Any) -> Any:
        kw.setdefault("n_boot", 200)
        kw.setdefault("template", "pairwise-v1")  # the JSON template these scripted judges answer
        kw.setdefault("backoff_base_s", 0.01)
        kw.setdefault("backoff_max_s", 0.5)
        kw.setdefault("timeout_s", 5.0)
        return judge_pairwise(self.store, self.a, self.b, judge_for(srv), **kw)


def judge_for(srv: FaultServer, model: str = JUDGE_MODEL) -> str:
    return f"openai:{model}@{srv.base_url}"


def write_script(path: Path, answer: Callable[[int], str]) -> str:
    rules = [{"contains": f"ticket test {i}:", "reply": answer(i)} for i in range(N)]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
    return f"mock:{path}"


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any, b_name: str = "b.yaml") -> Env:
    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    suite_dir = make_suite(tmp_path / "judge-suite", {"train": 2, "dev": 2, "test": N}, SUITE_YAML)
    suite = load_suite(suite_dir)
    store = Store()
    spec_a = parse_spec(write_script(tmp_path / "a.yaml", a_answer))
    spec_b = parse_spec(write_script(tmp_path / b_name, b_answer))
    a = run_suite(suite, spec_a, store=store, progress=False).id
    b = run_suite(suite, spec_b, store=store, progress=False).id
    return Env(tmp_path, store, a, b)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any) -> Env:
    return make_env(tmp_path, monkeypatch, make_suite)


# --------------------------------------------------------------------------- templates and parsing


def test_templates_are_versioned_package_files() -> None:
    for ref, tid in (("rubric-v1", "rubric"), ("pairwise-v1", "pairwise")):
        t = load_template(ref)
        assert (t.id, t.version, t.ref) == (tid, 1, ref)
        assert len(t.sha256) == 64 and t.user.strip()
    assert {"question", "answer_1", "answer_2", "reference_block"} <= load_template(
        "pairwise-v1"
    ).placeholders()
    with pytest.raises(InputError, match="did you mean 'pairwise-v1'"):
        load_template("pairwise-v2")


def test_strict_reply_parsing() -> None:
    assert parse_pairwise_reply('{"reasoning": "r", "winner": "2"}')["winner"] == "2"
    assert parse_pairwise_reply('```json\n{"reasoning": "r", "winner": "Tie"}\n```')["winner"] == "tie"
    assert parse_pairwise_reply('{"reasoning": "r", "winner": 1}')["winner"] == "1"
    for bad in (
        "Answer 1 is better.",
        '{"reasoning": "r", "winner": "1"} trailing',
        '["1"]',
        '{"winner": "1"}',
        '{"reasoning": "r", "winner": "3"}',
        '{"reasoning": "r"}',
        "",
    ):
        with pytest.raises(ReplyParseError):
            parse_pairwise_reply(bad)
    with pytest.raises(ReplyParseError, match="not valid JSON"):
        parse_json_object("{nope")


def test_judge_must_be_an_openai_endpoint(env: Env) -> None:
    with pytest.raises(InputError, match="OpenAI-compatible"):
        judge_pairwise(env.store, env.a, env.b, "mock:echo")


def test_runs_must_be_comparable(env: Env, tmp_path: Path, make_suite: Any) -> None:
    other = make_suite(
        tmp_path / "other", {"train": 2, "dev": 2, "test": 5}, SUITE_YAML.replace("1.0.0", "1.0.1")
    )
    c = run_suite(load_suite(other), parse_spec("mock:echo"), store=env.store, progress=False).id
    with FaultServer(responder=b_judge) as srv:
        with pytest.raises(InputError, match="not comparable"):
            judge_pairwise(env.store, env.a, c, judge_for(srv))
        assert srv.requests == []


# --------------------------------------------------------------------------- pairwise verdicts


def test_consistent_b_judge_win_rate_near_one(env: Env) -> None:
    with FaultServer(responder=b_judge) as srv:
        r = env.judge(srv, repeat_fraction=0.2)
        n_requests = len(srv.requests)
    assert r.counts == {"A": 0, "B": N, "tie": 0, "abstain": 0, "error": 0}
    assert r.win_rate_b == 1.0 and r.win_ci_low == 1.0 and r.win_ci_high == 1.0
    assert r.reliability.position_consistency == 1.0
    assert (
        r.reliability.repeat_agreement == 1.0 and r.reliability.n_repeat == 2 * 4
    )  # 20% of 20 pairs, 2 orders
    assert n_requests == 2 * N + 2 * 4  # both orders, plus the re-asked subset as new calls
    assert r.usage.new_calls == 2 * N + 8 and r.usage.errors == 0
    assert all(p.verdict_ab == p.verdict_ba == "B" for p in r.pairs)
    # both orders were really shown
    orders = {shown(q.body)[0].split()[0] for q in srv.requests}
    assert orders == {"alpha", "beta"}
    # stored as a judgment record with identity, template and every call key
    (rec,) = env.store.get_records("judgment", ref=f"{env.a}..{env.b}")
    body = rec["body"]
    assert (
        body["judge"] == judge_for(srv)
        and body["template"] == "pairwise-v1"
        and body["template_version"] == 1
    )
    assert body["params"]["temperature"] == 0.0 and len(body["judge_identity"]) == 64
    assert len(body["call_keys"]) == 2 * N + 8 and body["call_keys"] == r.call_keys


def test_requests_are_temperature_zero_and_bounded(env: Env) -> None:
    with FaultServer(responder=b_judge, delay_s=0.02) as srv:
        env.judge(srv, n=8, concurrency=3, repeat_fraction=0)
        reqs = srv.requests
        peak = srv.max_in_flight
    assert len(reqs) == 16
    assert all(q.body["temperature"] == 0.0 and q.body["model"] == JUDGE_MODEL for q in reqs)
    assert peak <= 3


def test_n_draws_a_seeded_subset(env: Env) -> None:
    with FaultServer(responder=b_judge) as srv:
        r1 = env.judge(srv, n=5, seed=1, repeat_fraction=0, save=False)
        r2 = env.judge(srv, n=5, seed=1, repeat_fraction=0, save=False)
        r3 = env.judge(srv, n=5, seed=2, repeat_fraction=0, save=False)
    ids = [p.sample_id for p in r1.pairs]
    assert len(ids) == 5 and ids == [p.sample_id for p in r2.pairs]
    assert ids != [p.sample_id for p in r3.pairs]


# --------------------------------------------------------------------------- retries and errors


def flaky(responder: Responder, *faults: Fault) -> Responder:
    """Each distinct prompt first gets `faults` in turn, then `responder`."""
    seen: dict[str, int] = {}

    def respond(body: Any) -> str | Fault | None:
        key = json.dumps(body["messages"])
        i = seen.get(key, 0)
        seen[key] = i + 1
        return faults[i] if i < len(faults) else responder(body)

    return respond


def test_429_with_retry_after_and_500_then_success(env: Env) -> None:
    with FaultServer(responder=flaky(b_judge, status(429, retry_after=0.3), status(500))) as srv:
        r = env.judge(srv, n=1, repeat_fraction=0)
        reqs = srv.requests
    assert r.counts["B"] == 1 and r.counts["error"] == 0
    assert len(reqs) == 6 and r.usage.http_requests == 6 and r.usage.http_retries == 4
    by_prompt: dict[str, list[float]] = {}
    for q in reqs:
        by_prompt.setdefault(json.dumps(q.body["messages"]), []).append(q.started)
    for starts in by_prompt.values():
        assert len(starts) == 3
        assert starts[1] - starts[0] >= 0.25  # Retry-After honoured


def test_retry_budget_spent_is_an_error_never_a_score(env: Env) -> None:
    with FaultServer(responder=lambda body: status(500)) as srv:
        r = env.judge(srv, n=3, max_retries=2, repeat_fraction=0)
        n_first = len(srv.requests)
    assert n_first == 3 * 2 * 3  # 3 pairs x 2 orders x (1 + 2 retries)
    assert r.counts == {"A": 0, "B": 0, "tie": 0, "abstain": 0, "error": 3}
    assert r.win_rate_b is None and r.lc_win_rate_b is None and r.n_judged == 0
    assert r.usage.errors == 6
    assert all(p.outcome == "error" and "http_500" in (p.error or "") for p in r.pairs)
    assert any("error" in w for w in r.warnings)
    rows = env.store.get_judge_calls(r.call_keys)
    assert len(rows) == 6 and all(row["error"] and row["parsed"] is None for row in rows.values())
    # errors are stored but never served from the cache: the next run asks again, and succeeds
    with FaultServer(responder=b_judge) as srv:
        r2 = env.judge(srv, n=3, max_retries=2, repeat_fraction=0)
        assert len(srv.requests) == 6
    assert r2.counts["B"] == 3
    rows = env.store.get_judge_calls(r2.call_keys)
    assert all(row["error"] is None and row["parsed"]["winner"] in ("1", "2") for row in rows.values())


def test_garbage_verdict_is_reasked_once_with_the_parse_error_then_an_error(env: Env) -> None:
    with FaultServer(responder=lambda body: "Answer 1 is clearly better.") as srv:
        r = env.judge(srv, n=1, repeat_fraction=0)
        reqs = srv.requests
    assert len(reqs) == 4  # 2 orders x (ask + one re-ask)
    assert r.counts["error"] == 1 and r.win_rate_b is None
    assert r.usage.parse_retries == 2 and r.usage.errors == 2
    reasks = [q for q in reqs if is_reask(q.body)]
    assert len(reasks) == 2
    for q in reasks:
        msgs = q.body["messages"]
        assert msgs[-2] == {"role": "assistant", "content": "Answer 1 is clearly better."}
        assert msgs[-1]["content"].startswith("Your reply could not be parsed: not valid JSON")
        assert msgs[-1]["content"].endswith("Reply with only the JSON object.")
        assert msgs[:-2] == next(
            p.body["messages"]
            for p in reqs
            if not is_reask(p.body) and first_user(p.body) == first_user(q.body)
        )
    assert "unparseable reply (after one re-ask)" in (r.pairs[0].error or "")
    rows = env.store.get_judge_calls(r.call_keys)
    for row in rows.values():
        assert row["attempts"] == 2 and row["error"].startswith("unparseable")
        assert [x["text"] for x in row["replies"]] == ["Answer 1 is clearly better."] * 2
        assert row["replies"][0]["parse_error"].startswith("not valid JSON")


def test_garbage_then_valid_reply_is_scored(env: Env) -> None:
    def respond(body: Any) -> str:
        return b_judge(body) if is_reask(body) else '{"winner": "1"'

    with FaultServer(responder=respond) as srv:
        r = env.judge(srv, n=2, repeat_fraction=0)
        assert len(srv.requests) == 8
    assert r.counts == {"A": 0, "B": 2, "tie": 0, "abstain": 0, "error": 0}
    rows = env.store.get_judge_calls(r.call_keys)
    assert all(row["attempts"] == 2 and row["error"] is None for row in rows.values())
    assert all(row["replies"][0]["text"] == '{"winner": "1"' for row in rows.values())
    assert REPARSE_MESSAGE.split(":")[0] == "Your reply could not be parsed"


# --------------------------------------------------------------------------- cache, storage, cost


def test_second_identical_judgment_makes_no_requests(env: Env) -> None:
    with FaultServer(responder=b_judge) as srv:
        r1 = env.judge(srv, repeat_fraction=0.25)
        n1 = len(srv.requests)
        r2 = env.judge(srv, repeat_fraction=0.25)
        n2 = len(srv.requests)
        # a different template version / parameter is a different identity: asked again
        r3 = env.judge(srv, repeat_fraction=0.25, reference_guided=True, n=2)
        n3 = len(srv.requests)
    assert n1 == 2 * N + 10 and n2 == n1
    assert r2.usage.cached == r2.usage.calls == 2 * N + 10 and r2.usage.new_calls == 0
    assert r2.usage.http_requests == 0
    assert r2.call_keys == r1.call_keys and r2.win_rate_b == r1.win_rate_b
    assert n3 > n2 and r3.usage.new_calls > 0
    assert len(env.store.get_records("judgment")) == 3


def test_raw_replies_are_stored_with_identity_and_prompt(env: Env) -> None:
    with FaultServer(responder=b_judge) as srv:
        r = env.judge(srv, n=2, repeat_fraction=0)
        sent = {json.dumps(q.body["messages"]): q for q in srv.requests}
    rows = env.store.get_judge_calls(r.call_keys)
    assert len(rows) == 4
    t = load_template("pairwise-v1")
    for row in rows.values():
        assert row["judge"] == judge_for(srv)
        assert (row["template_id"], row["template_version"], row["template_hash"]) == (
            "pairwise",
            1,
            t.sha256,
        )
        assert row["params"]["temperature"] == 0.0 and row["params"]["repeat"] == 0
        body = sent[json.dumps(row["prompt"])].body  # the exact prompt sent
        assert row["reply"] == b_judge(body)  # the raw reply text, verbatim
        assert row["parsed"]["winner"] in ("1", "2") and row["attempts"] == 1
        assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0


def test_cost_from_a_price_table(env: Env, tmp_path: Path) -> None:
    with FaultServer(responder=b_judge) as srv:
        unknown = env.judge(srv, n=3, repeat_fraction=0)
        priced = env.judge(srv, n=3, repeat_fraction=0, prices={JUDGE_MODEL: {"input": 2.0, "output": 10.0}})
    assert unknown.usage.cost_usd is None and unknown.usage.new_cost_usd is None
    u = priced.usage
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.cost_usd == pytest.approx((u.prompt_tokens * 2.0 + u.completion_tokens * 10.0) / 1e6)
    assert u.new_cost_usd == 0.0  # everything came from the cache this time
    assert "cost                  unknown" in render_pairwise(unknown)
    assert "$" in render_pairwise(priced)
    p = tmp_path / "prices.yaml"
    p.write_text(f"{JUDGE_MODEL}: {{input: 1, output: 3}}\n")
    table = PriceTable.load(p)
    assert table.cost(("x", JUDGE_MODEL), 1_000_000, 1_000_000) == pytest.approx(4.0)
    p.write_text(f"{JUDGE_MODEL}: {{input: -1, output: 3}}\n")
    with pytest.raises(InputError, match="non-negative"):
        PriceTable.load(p)


# --------------------------------------------------------------------------- rubric scorer


RUBRIC_SUITE = """\
name: rubric-suite
version: "1.0.0"
dataset:
  path: data/{split}.jsonl
  splits: [train, dev, test]
prompt:
  name: plain
  template: "{input}"
generation:
  max_new_tokens: 32
scorers:
  - {name: exact, type: exact_match}
  - name: judge
    type: judge_rubric
    args: {judge: "JUDGE", criteria: [accuracy, format], reference_guided: true, max_retries: 1,
           timeout_s: 5, concurrency: 3, template: rubric-v1}
"""


def rubric_responder(body: Any) -> str | Fault:
    """Grades by the sample number in the graded answer: 3 -> garbage always, 4 -> 500 always,
    5 -> garbage then valid; otherwise accuracy = 1 + i % 5, format = 5."""
    text = first_user(body)
    answer = text.split("[Assistant's answer]\n", 1)[1].split("\n[End of answer]", 1)[0]
    i = int(answer.split("#")[1])
    if i == 3 or (i == 5 and not is_reask(body)):
        return "Grade: 4/5"
    if i == 4:
        return status(500)
    assert "[Reference answer]" in text  # reference_guided
    return json.dumps({"reasoning": f"answer {i} graded", "scores": {"accuracy": 1 + i % 5, "format": 5}})


def test_judge_rubric_scorer_inside_run_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any
) -> None:
    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    script = tmp_path / "m.yaml"
    script.write_text(
        yaml.safe_dump(
            {"rules": [{"contains": f"ticket test {i}:", "reply": f"answer #{i}"} for i in range(10)]}
        )
    )
    with FaultServer(responder=rubric_responder) as srv:
        suite_dir = make_suite(
            tmp_path / "rs", {"train": 2, "dev": 2, "test": 10}, RUBRIC_SUITE.replace("JUDGE", judge_for(srv))
        )
        suite = load_suite(suite_dir)
        store = Store()
        rec = run_suite(suite, parse_spec(f"mock:{script}"), store=store, progress=False)
        first_requests = len(srv.requests)
        # a second run: every graded sample comes from the judge cache; failures are asked again
        rec2 = run_suite(suite, parse_spec(f"mock:{script}"), store=store, progress=False)
        again = srv.requests[first_requests:]
    tab = store.score_table(rec.id)
    assert tab["test-000"]["judge.accuracy"].value == 1.0 and tab["test-002"]["judge.accuracy"].value == 3.0
    assert tab["test-002"]["judge.format"].value == 5.0
    assert tab["test-002"]["judge.overall"].value == 4.0
    assert tab["test-002"]["judge.errors"].value == 0.0
    assert tab["test-002"]["judge.accuracy"].detail == "answer 2 graded"
    assert tab["test-005"]["judge.accuracy"].value == 1.0  # garbage, then a valid reply
    for sid, why in (("test-003", "unparseable"), ("test-004", "http_500")):
        row = tab[sid]
        assert row["judge.accuracy"].value is None and row["judge.overall"].value is None
        assert row["judge.errors"].value == 1.0 and why in row["judge.accuracy"].detail
    key = tab["test-002"]["judge.accuracy"].data["judge_key"]
    stored = store.get_judge_calls([key])[key]
    assert stored["template_id"] == "rubric" and json.loads(stored["reply"])["reasoning"] == "answer 2 graded"
    m = rec.metrics
    graded = [1 + i % 5 for i in range(10) if i not in (3, 4)]
    # the two samples the judge failed on count as the lowest grade (fail closed), not dropped
    assert m["judge.accuracy"].value == pytest.approx((sum(graded) + 2 * 1) / 10)
    assert (m["judge.accuracy"].n, m["judge.accuracy"].n_failed, m["judge.accuracy"].n_missing) == (10, 2, 0)
    assert m["judge.format"].value == pytest.approx((8 * 5 + 2 * 1) / 10)
    assert m["judge.errors"].value == pytest.approx(2 / 10) and m["judge.errors"].n == 10
    assert m["exact"].n == 10
    # the second run re-asked only the two failed samples (3: ask + re-ask; 4: 1 + 1 retry)
    assert {int(first_user(q.body).split("answer #")[1].split()[0]) for q in again} == {3, 4}
    assert rec2.metrics["judge.accuracy"].value == m["judge.accuracy"].value
    usage = judge_usage_for_run(store, rec.id, prices={JUDGE_MODEL: {"input": 1.0, "output": 1.0}})
    (u,) = usage.values()
    assert u.calls == 10 and u.errors == 2 and u.prompt_tokens > 0
    assert u.cost_usd == pytest.approx((u.prompt_tokens + u.completion_tokens) / 1e6)


def test_rubric_scorer_arguments_are_checked(tmp_path: Path) -> None:
    from harness.scorers import build_scorer
    from harness.types import ScorerSpec

    ok = build_scorer(
        ScorerSpec(name="j", type="judge_rubric", args={"judge": "openai:m@http://127.0.0.1:1/v1"})
    )
    assert ok.metric_names() == [
        "j.accuracy",
        "j.format",
        "j.tone",
        "j.completeness",
        "j.overall",
        "j.errors",
    ]
    for args, msg in (
        ({"judge": "mock:echo"}, "OpenAI-compatible"),
        ({"judge": "openai:m@http://127.0.0.1:1/v1", "scale": "5-1"}, "low end"),
        ({"judge": "openai:m@http://127.0.0.1:1/v1", "criteria": ["overall"]}, "criterion name"),
        ({"judge": "openai:m@http://127.0.0.1:1/v1", "temprature": 0}, "did you mean"),
    ):
        with pytest.raises(InputError, match=msg):
            build_scorer(ScorerSpec(name="j", type="judge_rubric", args=args))


# --------------------------------------------------------------------------- CLI


def test_cli_judge_text_and_json(env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"{JUDGE_MODEL}: {{input: 1.5, output: 6}}\n")
    with FaultServer(responder=b_judge) as srv:
        rc = cli(
            ["judge", env.a, env.b, "--judge", judge_for(srv), "--n", "10", "--prices", str(prices)]
            + ["--template", "pairwise-v1"]
        )
        out = capsys.readouterr().out
        assert rc == 0
        for text in (
            "B win rate",
            "1.000  [1.000, 1.000]",
            "length-controlled",
            "outcomes              B 10  A 0",
            "position consistency  100.0%",
            "repeat agreement",
            "length correlation",
            "human agreement       no human ratings",
            "tokens",
            "cost                  $",
            "stored judgment",
        ):
            assert text in out, (text, out)
        rc = cli(
            ["judge", env.a, env.b, "--judge", judge_for(srv), "--n", "10", "--format", "json"]
            + ["--template", "pairwise-v1"]
        )
        data = json.loads(capsys.readouterr().out)
        assert rc == 0 and data["counts"]["B"] == 10 and data["usage"]["http_requests"] == 0
        assert data["usage"]["cost_usd"] is None
    assert cli(["judge", env.a, env.b, "--judge", "mock:echo"]) == 2
    assert "OpenAI-compatible" in capsys.readouterr().err
    assert (
        cli(["judge", env.a, env.b, "--judge", "openai:m@http://127.0.0.1:1/v1", "--repeat-fraction", "2"])
        == 2
    )


def test_template_with_worked_examples_renders_them_as_turns(tmp_path) -> None:
    from harness.errors import InputError
    from harness.judge.templates import load_template, parse_template

    t = load_template("pairwise-fewshot-v1")
    msgs = t.render(question="Q?", reference_block="", answer_1="one", answer_2="two")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert '"winner": "1"' in msgs[2]["content"] and '"winner": "2"' in msgs[4]["content"]
    assert "Q?" in msgs[-1]["content"] and "one" in msgs[-1]["content"]
    bad = "# judge-template id=x version=1\n[user]\nexample\n[user]\n$question\n"
    with pytest.raises(InputError, match=r"\[assistant\]"):
        parse_template(bad)  # an example [user] without its [assistant] answer
    with pytest.raises(InputError, match="alternate"):
        parse_template("# judge-template id=x version=1\n[assistant]\nhi\n[user]\n$question\n")
