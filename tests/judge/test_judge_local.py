"""The in-process judge (`--judge hf:PATH`, `--judge default`) on a tiny random model: answer
probabilities from the model's next-token distribution (checked against the exact log-likelihood of
each surface form), verdicts or reasoned abstentions, cached calls, the judge's identity; the same
judge served over HTTP by `tunebench serve` gives the same first-token distribution."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from test_judge import Env, make_env

from harness.judge import JudgeClient, JudgeRequest, load_template
from harness.models import parse_spec
from harness.models.choice_probs import choice_probabilities, label_forms
from harness.models.hf import HFBackend
from harness.pairwise import judge_pairwise
from harness.serve import running_server
from reports.console.judge import render_pairwise

LABELS = ["1", "2", "tie"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any) -> Env:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return make_env(tmp_path, monkeypatch, make_suite)


@pytest.fixture(scope="module")
def backend(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> HFBackend:
    spec = parse_spec(f"hf:{tiny_model}", workspace=tmp_path_factory.mktemp("judge-ws"), dtype="float32")
    return HFBackend(spec, batch_size=8, device="cpu")


def test_label_forms() -> None:
    assert label_forms("tie") == ["tie", " tie", "Tie", " Tie", "TIE", " TIE"]
    assert label_forms("1") == ["1", " 1"]


def test_choice_probabilities_equal_the_exact_likelihood_of_each_form(backend: HFBackend) -> None:
    texts = [
        backend.render([{"role": "user", "content": "Which is better? Reply 1, 2 or tie."}]),
        backend.render([{"role": "user", "content": "refund please"}]),
    ]
    res = choice_probabilities(backend, texts, LABELS, min_first=0.0)
    tok = backend.tokenizer
    for text, cp in zip(texts, res, strict=True):
        assert 0.0 < sum(cp.probs.values()) <= 1.0
        for label in LABELS:
            seqs = {tuple(tok(f, add_special_tokens=False)["input_ids"]) for f in label_forms(label)}
            # the tiny tokenizer's forms of one label are prefix-free: their probabilities add up
            assert not any(a != b and b[: len(a)] == a for a in seqs for b in seqs)
            forms = [tok.decode(list(s)) for s in seqs]
            exact = sum(math.exp(ll) for ll, _ in backend.loglikelihood([(text, f) for f in forms]))
            assert cp.probs[label] == pytest.approx(exact, rel=1e-4), label
        assert cp.forwards > 1  # "tie" is three tokens here: extra forward passes were needed
        assert len(cp.top) == 20 and cp.top == sorted(cp.top, key=lambda t: -t[1])
    # a prompt's probabilities do not depend on the other prompts asked with it
    alone = choice_probabilities(backend, texts[1:], LABELS, min_first=0.0)
    assert alone[0].probs == pytest.approx(res[1].probs, rel=1e-5)


def test_prefix_labels_do_not_count_twice(backend: HFBackend) -> None:
    text = backend.render([{"role": "user", "content": "grade 1 to 12"}])
    tok = backend.tokenizer
    assert (
        tok("12", add_special_tokens=False)["input_ids"][:1]
        == tok("1", add_special_tokens=False)["input_ids"]
    )
    (cp,) = choice_probabilities(backend, [text], ["1", "12"], min_first=0.0)
    (p1,) = choice_probabilities(backend, [text], ["1"], min_first=0.0)
    assert cp.probs["1"] + cp.probs["12"] == pytest.approx(p1.probs["1"], rel=1e-5)


def test_in_process_judge_on_a_tiny_model(env: Env, tiny_model: Path) -> None:
    spec = f"hf:{tiny_model}"
    strict = judge_pairwise(env.store, env.a, env.b, spec, n=4, n_boot=100, repeat_fraction=0.25)
    c = strict.counts
    assert c["error"] == 0 and c["A"] + c["B"] + c["tie"] + c["abstain"] == 4
    for p in strict.pairs:  # a random model puts little mass on 1 / 2 / tie: reasoned abstentions
        assert p.mass_ab is not None and 0.0 <= p.mass_ab <= 1.0
        if p.outcome == "abstain":
            assert p.abstain and "below the floor of 50%" in p.abstain
    rows = env.store.get_judge_calls(strict.call_keys)
    assert len(rows) == 10  # 4 pairs x 2 orders + 1 repeated pair x 2
    for row in rows.values():
        parsed = row["parsed"]
        assert parsed["mode"] == "probs" and 0.0 <= sum(parsed["probs"].values()) <= 1.0 + 1e-9
        assert len(parsed["top_logprobs"]) == 20 and row["reply"] == parsed["top_logprobs"][0][0]
    (info,) = [j.info for j in strict.judges]
    assert info["backend"] == "hf (in process)" and info["model"] == spec and info["logprobs"] is True
    assert info["revision"] and len(info["revision"]) == 12 and info["path"] == str(tiny_model)
    assert strict.usage.cost_usd == 0.0  # in process: compute, not money
    # any floor: every pair gets a verdict, from the same stored calls (nothing asked again)
    loose = judge_pairwise(env.store, env.a, env.b, spec, n=4, n_boot=100, repeat_fraction=0.25, min_mass=0.0)
    assert loose.counts["abstain"] == 0 and loose.counts["error"] == 0 and loose.n_judged == 4
    assert loose.usage.new_calls == 0 and loose.usage.cached == 10
    assert all(p.probs_ab and sum(p.probs_ab.values()) == pytest.approx(1.0) for p in loose.pairs)
    out = render_pairwise(loose)
    assert "hf (in process)" in out and "verdict read from the judge's probabilities" in out


def test_json_template_in_process_generates_text(env: Env, tiny_model: Path, backend: HFBackend) -> None:
    """A JSON template on an in-process judge generates a reply (a random model writes no JSON: an
    error after one re-ask, never a verdict)."""
    client = JudgeClient(f"hf:{tiny_model}", "pairwise-v1", store=env.store, max_tokens=4, backend=backend)
    msgs = load_template("pairwise-v1").render(question="q", reference_block="", answer_1="a", answer_2="b")
    from harness.pairwise import parse_pairwise_reply

    (r,) = client.run([JudgeRequest(messages=tuple(msgs))], parse_pairwise_reply)
    assert r.error is not None and r.parsed is None and r.attempts == 2


def test_the_same_judge_over_http(env: Env, backend: HFBackend, tiny_model: Path) -> None:
    """`tunebench serve` + openai:...@URL gives the in-process judge's first-token distribution."""
    local = judge_pairwise(env.store, env.a, env.b, f"hf:{tiny_model}", n=3, n_boot=50, repeat_fraction=0)
    with running_server(backend, model_name="tiny-judge", lifetime_s=120) as srv:
        served = judge_pairwise(env.store, env.a, env.b, srv.openai_spec, n=3, n_boot=50, repeat_fraction=0)
    assert served.judges[0].info["logprobs"] is True
    assert (served.judges[0].info["fingerprint"] or "").startswith("tb-")
    rows_l = env.store.get_judge_calls(local.call_keys)
    rows_s = env.store.get_judge_calls(served.call_keys)
    for kl, ks in zip(local.call_keys, served.call_keys, strict=True):
        top_l, top_s = rows_l[kl]["parsed"]["top_logprobs"], rows_s[ks]["parsed"]["top_logprobs"]
        assert [t for t, _ in top_s] == [t for t, _ in top_l]
        assert [v for _, v in top_s] == pytest.approx([v for _, v in top_l], abs=1e-4)
    # over HTTP only whole tokens in the top 20 count, so the served mass is at most the local one
    for pl, ps in zip(local.pairs, served.pairs, strict=True):
        assert (ps.mass_ab or 0.0) <= (pl.mass_ab or 0.0) + 1e-6
