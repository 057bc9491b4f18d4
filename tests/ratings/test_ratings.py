"""Blinded human rating campaigns (harness/ratings/, `tunebench rate`, dashboard/rate_app.py).

Three mock runs of one 12-sample suite answer "reply-x-i", "reply-y-i" and "reply-z-i", so a test
can tell from a text which run wrote it. Run Z is re-labelled as a LoRA adapter so the blinding
checks also look for an adapter path. Nothing in any output names a run or a model.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from rating_helpers import (
    APP,
    FULL,
    N_SAMPLES,
    Env,
    assert_blind,
    gold_file,
    item_row,
    log_in,
    rate_all,
    rate_in_app,
    rater_app,
    rating_rows,
    walk,
)

from harness.cli.main import main as cli
from harness.errors import InputError
from harness.models import parse_spec
from harness.ratings import (
    SCALES,
    campaign_results,
    create_campaign,
    get_campaign,
    human_pairwise,
    login,
    next_item,
    output_order,
    progress,
    save_rating,
)
from harness.runner import run_suite
from harness.stats import cohens_kappa
from harness.store import Store, rating_campaigns, rating_items
from harness.suite import load_suite
from reports.console.ratings import render_results

# --------------------------------------------------------------------------- campaigns


def test_create_campaign_items_gold_and_tokens(env: Env) -> None:
    r = list(env.runs.values())
    made = create_campaign(env.store, r, n=4, seed=3, gold=gold_file(env))
    c = made.campaign
    assert c.runs == r and c.n_samples == 4 and c.n_items == 4 * 3 and c.n_gold == 2
    with env.store.engine.connect() as conn:
        items = [
            dict(x)
            for x in conn.execute(rating_items.select().where(rating_items.c.campaign_id == c.id)).mappings()
        ]
        row = dict(conn.execute(rating_campaigns.select()).mappings().one())
    pairs = [i for i in items if i["kind"] == "pair"]
    gold = [i for i in items if i["kind"] == "gold"]
    assert len(pairs) == 12 and len(gold) == 2
    sids = sorted({i["sample_id"] for i in pairs})
    assert len(sids) == 4 and all(s.startswith("test-") for s in sids)
    for sid in sids:  # every pair of runs, for every sampled id
        assert {(i["run_a"], i["run_b"]) for i in pairs if i["sample_id"] == sid} == {
            (r[0], r[1]),
            (r[0], r[2]),
            (r[1], r[2]),
        }
    it = next(i for i in pairs if i["run_a"] == env.runs["x"])
    n = it["sample_id"].split("-")[1].lstrip("0") or "0"
    assert it["output_a"] == f"reply-x-{n}" and it["input"].startswith(f"ticket test {n}:")
    assert {g["output_a"] for g in gold} == {"4", "tac"} and all(g["run_a"] is None for g in gold)
    assert len({i["token"] for i in items}) == 14 and all(i["sample_id"] not in i["token"] for i in items)
    # tokens: distinct, only their hashes stored
    assert made.rater_token != made.admin_token
    assert made.rater_token not in json.dumps(row) and made.admin_token not in json.dumps(row)
    assert login(env.store, made.rater_token, "Ann") == c.id
    with pytest.raises(InputError):
        login(env.store, made.admin_token, "Ann")
    # same seed, same samples; the rater sees pair and gold items alike
    again = create_campaign(env.store, r, n=4, seed=3).campaign
    with env.store.engine.connect() as conn:
        q = rating_items.select().where(rating_items.c.campaign_id == again.id)
        assert sorted({x["sample_id"] for x in conn.execute(q).mappings()}) == sids
    assert progress(env.store, c.id, made.rater_token, "ann").remaining == 14


def test_create_campaign_refusals(env: Env, tmp_path: Path) -> None:
    x, y = env.runs["x"], env.runs["y"]
    with pytest.raises(InputError, match="two or more"):
        create_campaign(env.store, [x])
    with pytest.raises(InputError, match="more than once"):
        create_campaign(env.store, [x, x])
    with pytest.raises(InputError, match="overlap"):
        create_campaign(env.store, [x, y], overlap=0)
    dev = run_suite(
        load_suite(env.root / "rate-suite"),
        parse_spec("mock:echo"),
        store=env.store,
        split="dev",
        progress=False,
    )
    with pytest.raises(InputError, match="not comparable"):
        create_campaign(env.store, [x, dev.id])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "q", "better": "a", "worse": "a"}\nnot json\n{"input": "q", "better": "a"}\n')
    with pytest.raises(InputError) as e:
        create_campaign(env.store, [x, y], gold=bad)
    assert [p.line for p in e.value.problems] == [1, 2, 3]
    assert env.store.engine.connect().execute(rating_campaigns.select()).first() is None


# --------------------------------------------------------------------------- order and blinding


def test_output_order_deterministic_and_balanced(env: Env) -> None:
    assert output_order("s", 0, "Ann", "tok") == output_order("s", 0, " ann ", "tok")
    firsts = [output_order("salt", 0, f"r{r}", f"item{i}") for r in range(5) for i in range(400)]
    assert 0.45 < np.mean(firsts) < 0.55
    per_rater = np.array(firsts).reshape(5, 400).mean(axis=1)
    assert np.all((per_rater > 0.4) & (per_rater < 0.6))
    # in a campaign: the order shown differs between raters on some items, is stable per rater, and
    # is balanced exactly (counterbalanced per rater and pair of runs, whatever the campaign's salt)
    made = create_campaign(env.store, list(env.runs.values()), n=N_SAMPLES)
    cid, tok = made.campaign.id, made.rater_token
    shown: dict[str, list[bool]] = {}
    for rater in ("ann", "bob", "cy", "dee"):
        seen = []
        while (it := next_item(env.store, cid, tok, rater)) is not None and len(seen) < 36:
            assert next_item(env.store, cid, tok, rater) == it  # stable until saved
            row = item_row(env.store, it.token)
            assert {it.output_1, it.output_2} == {row["output_a"], row["output_b"]}
            seen.append(it.output_1 == row["output_a"])
            save_rating(env.store, cid, tok, rater, it.token, "tie", FULL)
        shown[rater] = seen
    assert all(len(v) == 36 and sum(v) == 18 for v in shown.values())
    rows = rating_rows(env.store, cid)
    assert np.mean([r["first"] == "A" for r in rows]) == 0.5
    per_pair: dict[tuple[str, str, str], list[bool]] = {}
    for r in rows:
        per_pair.setdefault((r["rater"], r["run_a"], r["run_b"]), []).append(r["first"] == "A")
    assert len(per_pair) == 4 * 3 and all(sum(v) == 6 for v in per_pair.values())  # 12 items a pair
    firsts_by_item: dict[str, set[str]] = {}
    for r in rows:
        firsts_by_item.setdefault(r["item"], set()).add(r["first"])
    assert any(len(v) == 2 for v in firsts_by_item.values())


def test_save_maps_to_runs_resumes_and_ignores_double_submit(env: Env) -> None:
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=6, gold=gold_file(env))
    cid, tok = made.campaign.id, made.rater_token
    expected = []
    for k in range(5):
        it = next_item(env.store, cid, tok, "Ann")
        assert it is not None and it.position == k + 1 and it.remaining == 8 - k
        choice = "1" if k % 2 == 0 else "2"
        picked = it.output_1 if choice == "1" else it.output_2
        scores = {"1": dict.fromkeys(SCALES, 5), "2": dict.fromkeys(SCALES, 1)}
        assert save_rating(env.store, cid, tok, "Ann", it.token, choice, scores, comment=f"c{k}")
        assert not save_rating(env.store, cid, tok, "ann", it.token, "tie", FULL)  # double submit
        expected.append((it.token, picked, it.output_1))
    rows = {r["item"]: r for r in rating_rows(env.store, cid)}
    assert len(rows) == 5
    for token, picked, out1 in expected:
        r, item = rows[token], item_row(env.store, token)
        winner_text = item["output_a"] if r["preference"] == "A" else item["output_b"]
        assert winner_text == picked  # the stored preference names the run whose text was picked
        first_text = item["output_a"] if r["first"] == "A" else item["output_b"]
        assert first_text == out1
        assert r[f"{r['first'].lower()}_accuracy"] == 5  # Output 1's scales landed on Output 1's run
        if item["kind"] == "pair":
            assert f"reply-{'x' if r['preference'] == 'A' else 'y'}" in picked
    # a new Store (another process, a reload) resumes at item 6
    again = Store(env.store.url)
    it = next_item(again, cid, tok, "ANN")
    assert it is not None and it.position == 6 and it.token not in rows
    with pytest.raises(InputError):
        save_rating(env.store, cid, "rt-wrong", "ann", it.token, "1", FULL)
    with pytest.raises(InputError):
        save_rating(env.store, cid, tok, "ann", it.token, "A", FULL)  # run terms are not a choice
    with pytest.raises(InputError):
        save_rating(env.store, cid, tok, "ann", it.token, "1", {"1": {"accuracy": 6}})


def test_overlap_shares_some_items_and_splits_the_rest(env: Env) -> None:
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=10, overlap=0.4)
    cid, tok = made.campaign.id, made.rater_token
    with env.store.engine.connect() as conn:
        shared = conn.execute(rating_items.select().where(rating_items.c.shared == 1)).all()
    assert len(shared) == 4
    while (it := next_item(env.store, cid, tok, "ann")) is not None:
        save_rating(env.store, cid, tok, "ann", it.token, "1", FULL)
    assert progress(env.store, cid, tok, "bob").remaining == 4  # only the shared items are left for bob


def test_two_raters_at_once_lose_nothing(env: Env) -> None:
    made = create_campaign(env.store, list(env.runs.values()), n=8)  # 24 items
    cid, tok = made.campaign.id, made.rater_token
    errors: list[BaseException] = []

    def rate(name: str) -> None:
        try:
            store = Store(env.store.url)  # its own engine, as a second server process would have
            for _ in range(20):
                it = next_item(store, cid, tok, name)
                assert it is not None
                assert save_rating(store, cid, tok, name, it.token, "2", FULL, comment=name)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=rate, args=(n,)) for n in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    rows = rating_rows(env.store, cid)
    assert len(rows) == 40
    assert sorted(r["rater"] for r in rows) == ["ann"] * 20 + ["bob"] * 20
    assert len({(r["rater"], r["item"]) for r in rows}) == 40


def test_human_pairwise_orientation_and_gold_excluded(env: Env) -> None:
    x, y = env.runs["x"], env.runs["y"]
    made = create_campaign(env.store, [x, y], n=3, gold=gold_file(env))
    cid, tok = made.campaign.id, made.rater_token
    while (it := next_item(env.store, cid, tok, "ann")) is not None:
        pick = "1" if "reply-x" in it.output_1 or it.output_1 in ("4", "tac") else "2"
        save_rating(env.store, cid, tok, "ann", it.token, pick, FULL)
    fwd = human_pairwise(env.store, x, y)
    assert len(fwd) == 3 and {r["preference"] for r in fwd} == {"A"}
    assert {r["preference"] for r in human_pairwise(env.store, y, x)} == {"B"}
    assert human_pairwise(env.store, x, env.runs["z"]) == []


def test_campaign_results_statistics_gold_flags_and_judge_kappa(env: Env) -> None:
    x, y, z = env.runs["x"], env.runs["y"], env.runs["z"]
    made = create_campaign(env.store, [x, y, z], n=5, gold=gold_file(env))
    cid, tok, adm = made.campaign.id, made.rater_token, made.admin_token
    rate_all(env, cid, tok, "ann", "z", gold_right=True)  # z > x > y
    rate_all(env, cid, tok, "bob", "z", gold_right=True)
    rate_all(env, cid, tok, "cy", "y", gold_right=False)  # y > x > z, fails the gold items
    # a stored pairwise judgment of x vs z (as the judge engineer stores it): z wins on all but one
    sids = sorted({r["sample_id"] for r in rating_rows(env.store, cid) if r["kind"] == "pair"})
    pairs = [{"sample_id": s, "outcome": "B" if i else "tie"} for i, s in enumerate(sids)]
    env.store.put_record("judgment", "jd-1", {"pairs": pairs}, ref=f"{x}..{z}")

    with pytest.raises(InputError, match="admin token"):
        campaign_results(env.store, cid, tok)  # the rater token is not the admin token
    res = campaign_results(env.store, cid, adm, n_boot=200)
    assert res.n_ratings == 3 * (15 + 2)
    by_pair = {(p.run_a, p.run_b): p for p in res.pairs}
    xz = by_pair[(x, z)]
    assert (xz.a_wins, xz.b_wins, xz.ties, xz.both_bad) == (5, 10, 0, 0)
    assert xz.win_rate_a == pytest.approx(5 / 15) and xz.n_items == 5
    assert xz.ci_low is not None and xz.ci_high is not None and xz.ci_low <= 1 / 3 <= xz.ci_high
    raters = {r.rater: r for r in res.raters}
    assert raters["ann"].gold_accuracy == 1.0 and not raters["ann"].flagged
    assert raters["cy"].gold_accuracy == 0.0 and raters["cy"].flagged and raters["cy"].n_gold == 2
    assert [s.run for s in res.strengths][0] == z  # two of three raters put z first
    pref = next(a for a in res.agreement if a.name == "preference")
    assert pref.n_units == 15 and pref.alpha is not None and pref.alpha < 0.5
    assert {(a.name, a.level) for a in res.agreement} >= {("accuracy", "interval"), ("tone", "ordinal")}
    acc = next(a for a in res.agreement if a.name == "accuracy" and a.level == "interval")
    assert acc.n_units == 30 and acc.alpha is not None
    # judge vs humans on x vs z: judge says tie on the first sample, B (z) elsewhere
    (jx,) = res.judge
    assert (jx.run_a, jx.run_b, jx.judgment, jx.n) == (x, z, "jd-1", 15)
    human = [r for r in rating_rows(env.store, cid) if r["run_a"] == x and r["run_b"] == z]
    judge_l = ["tie" if r["sample_id"] == sids[0] else "B" for r in human]
    assert jx.kappa == pytest.approx(cohens_kappa(judge_l, [r["preference"] for r in human]))
    # flagged raters can be left out: then z wins x vs z outright
    res2 = campaign_results(env.store, cid, adm, n_boot=200, exclude_flagged=True)
    assert res2.excluded_raters == ["cy"]
    assert {(p.run_a, p.run_b): p.win_rate_a for p in res2.pairs}[(x, z)] == 0.0
    text = render_results(res)
    assert "Bradley-Terry" in text and "LOW" in text and "kappa" in text


# --------------------------------------------------------------------------- CLI


def test_cli_create_results_and_admin_token(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = env.runs["x"], env.runs["y"]
    assert (
        cli(["rate", "create", "--runs", x, y, "--n", "3", "--gold", str(gold_file(env)), "--port", "8611"])
        == 0
    )
    out = capsys.readouterr().out
    cid = out.split("created rating campaign ")[1].split()[0]
    rater = out.split("rater token (give to raters):")[1].split()[0]
    admin = out.split("admin token (keep; results):")[1].split()[0]
    assert f"rate serve {cid} --port 8611" in out
    assert get_campaign(env.store, cid).n_items == 3
    rate_all(env, cid, rater, "ann", "x", gold_right=True)
    assert cli(["rate", "results", cid, "--admin-token", "at-nope"]) == 2
    assert "admin token does not match" in capsys.readouterr().err
    assert cli(["rate", "results", cid, "--admin-token", admin, "--n-boot", "100"]) == 0
    assert "win rate" in capsys.readouterr().out
    assert cli(["rate", "results", cid, "--admin-token", admin, "--format", "json", "--n-boot", "100"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pairs"][0]["win_rate_a"] == 1.0 and data["raters"][0]["gold_accuracy"] == 1.0
    assert cli(["rate", "list"]) == 0
    listing = capsys.readouterr().out
    assert cid in listing and admin not in listing and rater not in listing
    assert cli(["rate", "serve", "rc-missing"]) == 2


# --------------------------------------------------------------------------- the rater app (AppTest)


def test_app_login_rate_three_and_resume_after_reload(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    made = create_campaign(env.store, [env.runs["x"], env.runs["z"]], n=6, gold=gold_file(env))
    cid, tok = made.campaign.id, made.rater_token
    at = rater_app(env, cid, monkeypatch)
    assert at.title[0].value == "Rate answers"
    at = log_in(at, "Ann", "rt-wrong")
    assert "does not open" in at.error[0].value
    at = log_in(at, "Ann", tok)
    assert at.title[0].value == "Which answer is better?"
    shown = []
    for k in range(3):
        assert f"item {k + 1} ·" in at.caption[0].value
        shown.append((at.code[-2].value, at.code[-1].value))
        expect = next_item(env.store, cid, tok, "ann")
        assert expect is not None and (
            expect.instruction,
            expect.input,
            expect.output_1,
            expect.output_2,
        ) == (
            at.code[0].value,
            at.code[1].value,
            at.code[2].value,
            at.code[3].value,
        )
        assert at.code[0].value == "Reply with a JSON object."  # the suite's instruction is shown
        at = rate_in_app(at, "1")
        assert not at.exception
    assert at.success[0].value == "Saved item 3."
    # a half-filled form is refused, nothing stored
    key = next(r.key for r in at.radio if r.key.startswith("pref-"))
    at.radio(key=key).set_value("tie")
    at = next(b for b in at.button if b.label == "Submit and next").click().run()
    assert "Please answer" in at.error[0].value
    rows = rating_rows(env.store, cid)
    assert len(rows) == 3 and {r["comment"] for r in rows} == {"fine"}
    for r in rows:  # "1" was chosen: the stored preference is the run shown first
        assert r["preference"] == r["first"] and r[f"{r['first'].lower()}_accuracy"] == 4
    # reload: a new session must log in again and resumes at item 4
    at2 = log_in(rater_app(env, cid, monkeypatch), "ann", tok)
    assert "item 4 ·" in at2.caption[0].value
    assert (at2.code[-2].value, at2.code[-1].value) not in shown
    # finish: the done page
    for _ in range(5):
        at2 = rate_in_app(at2, "both_bad")
    assert at2.title[0].value == "All done" and "rated 8 item(s)" in at2.success[0].value
    assert_blind(at2, env)


def test_app_blinding_walks_every_element_and_state(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    made = create_campaign(env.store, list(env.runs.values()), n=3, gold=gold_file(env))
    at = rater_app(env, made.campaign.id, monkeypatch)
    assert_blind(at, env)
    at = log_in(at, "Ann", made.rater_token)
    for _ in range(9):  # every pair item and both gold items pass through the page
        assert_blind(at, env)
        keys = [w.key for w in at.radio] + [w.key for w in at.text_area]
        assert all(not any(run in k for run in env.runs.values()) for k in keys)
        at = rate_in_app(at, "2")
    assert_blind(at, env)
    assert len(rating_rows(env.store, made.campaign.id)) == 9
    # the rater app offers no other page (the main dashboard's pages/ folder sits next to it)
    assert not at.sidebar.children
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/ratings.py").run()  # registered pages: only "Rate answers"


def test_admin_results_page_requires_the_admin_token(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=4, gold=gold_file(env))
    rate_all(env, made.campaign.id, made.rater_token, "ann", "y", gold_right=True)
    monkeypatch.setenv("TUNEBENCH_STORE", env.store.url)
    page = str(Path(APP).parent / "pages" / "ratings.py")
    at = AppTest.from_file(page, default_timeout=30).run()
    assert not at.exception and "admin token" in at.info[0].value
    blob = "\n".join(walk(at._tree))
    assert env.runs["x"] not in blob and "secret-model" not in blob  # nothing about the runs yet
    at.text_input(key="ratings_admin_token").input(made.rater_token).run()
    assert "admin token does not match" in at.error[0].value
    at.number_input(key="ratings_boot").set_value(200)
    at.text_input(key="ratings_admin_token").input(made.admin_token).run()
    assert not at.exception and not at.error
    assert [h.value for h in at.subheader][:2] == ["Win rates", "Bradley-Terry strengths"]
    wins = at.dataframe[2].value
    assert list(wins["X win rate"]) == [0.0] and list(wins["items"]) == [4]
    assert "Human position bias" in [h.value for h in at.subheader]
    bias = next(d.value for d in at.dataframe if "first shown" in d.value.columns)
    assert list(bias["rater"]) == ["(all)", "ann"] and list(bias["X shown first"]) == [2, 2]
    # a flagged rater with a Markdown-looking name, left out: the name is shown as text
    evil = "[x](http://evil.example)"
    rate_all(env, made.campaign.id, made.rater_token, evil, "x", gold_right=False)
    at.checkbox(key="ratings_exclude").check().run()
    assert not at.exception and "left out" in at.warning[0].value
    assert evil in [t.value for t in at.text]
    assert not any("evil" in str(m.proto) for m in [*at.markdown, *at.warning, *at.caption])
