"""Rating that raters can trust (issue 14, point 5): no submitted rating is dropped (the overlap race,
duplicate submits), sides counterbalanced per rater and human position bias reported, the task's
instruction (and the reference) shown, scales from the campaign, per-rater invitations, and rater
names drawn as text. The store and runs come from rating_helpers.py (the `env` fixture)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from rating_helpers import (
    FULL,
    Env,
    assert_blind,
    fill_in,
    gold_file,
    item_row,
    rate_in_app,
    rater_app,
    rating_rows,
    shown_item,
    submit,
    walk,
)

from harness.cli.main import main as cli
from harness.errors import InputError
from harness.ratings import (
    Scale,
    campaign_results,
    create_campaign,
    get_campaign,
    load_scales,
    next_item,
    open_session,
    progress,
    save_rating,
)
from harness.store import rating_items, rating_raters
from harness.store.human_ratings import rating_rows as stored_rows
from reports.console.ratings import render_results

EVIL = "[x](http://evil.example)"


def _exclusive_items(env: Env, cid: str) -> list[str]:
    with env.store.engine.connect() as conn:
        q = rating_items.select().where(rating_items.c.campaign_id == cid, rating_items.c.shared == 0)
        return [r["token"] for r in conn.execute(q).mappings()]


# --------------------------------------------------------------------------- nothing dropped


def test_two_raters_on_one_exclusive_item_both_kept(env: Env) -> None:
    """The race of overlap < 1: two raters submit the same exclusive item at the same moment, from
    two threads with an engine each (two server processes): both ratings and comments are stored and
    the later one is reported as an extra rating."""
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=10, overlap=0.1)
    cid, tok = made.campaign.id, made.rater_token
    items = _exclusive_items(env, cid)
    assert len(items) == 9
    for item in items[:4]:
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        def rate(
            name: str,
            item: str = item,
            barrier: threading.Barrier = barrier,
            results: dict[str, Any] = results,
        ) -> None:
            from harness.store import Store

            store = Store(env.store.url)
            barrier.wait(10)
            try:
                results[name] = save_rating(store, cid, tok, name, item, "1", FULL, comment=f"by {name}")
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                results[name] = e

        threads = [threading.Thread(target=rate, args=(n,)) for n in ("ann", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(r.stored and not r.duplicate for r in results.values()), results
        rows = [r for r in rating_rows(env.store, cid) if r["item"] == item]
        assert sorted(r["comment"] for r in rows) == ["by ann", "by bob"]
        later = max(rows, key=lambda r: r["id"])["rater"]
        assert results[later].others == 1  # the later one is told it is an extra rating
    res = campaign_results(env.store, cid, made.admin_token, n_boot=50)
    assert any("4 item(s) meant for one rater were rated by more than one" in n for n in res.notes)
    assert progress(env.store, cid, tok, "cy").remaining == 6  # 1 shared + 5 untaken exclusive items


def test_app_keeps_the_answers_when_another_rater_took_the_item(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ann has an exclusive item open; Bob rates it first; Ann submits: her answers and comment are
    stored (an extra rating) and she is told, instead of the page moving on without them."""
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=10, overlap=0.1)
    cid, tok = made.campaign.id, made.rater_token
    exclusive = set(_exclusive_items(env, cid))
    at = rater_app(env, cid, monkeypatch)
    at.text_input[0].input("Ann")
    at.text_input[1].input(tok)
    at = next(b for b in at.button if b.label == "Start rating").click().run()
    if shown_item(at) not in exclusive:  # the one shared item came first: rate it, then go on
        at = rate_in_app(at, "tie")
    item = shown_item(at)
    assert item in exclusive
    assert save_rating(env.store, cid, tok, "bob", item, "2", FULL, comment="bob was first")
    at = submit(fill_in(at, "1", comment="ann's careful comment"))
    assert not at.exception
    assert "Another rater rated this item" in at.warning[0].value
    rows = {r["rater"]: r for r in rating_rows(env.store, cid) if r["item"] == item}
    assert set(rows) == {"ann", "bob"} and rows["ann"]["comment"] == "ann's careful comment"
    assert rows["ann"]["preference"] == rows["ann"]["first"]  # "1" = the output ann saw first
    assert shown_item(at) != item  # and the page moved on to a new item


def test_duplicate_submit_is_answered(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rater submits the same item twice (two tabs): stored once, the second answered."""
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=4, raters=["Ann"])
    cid, link = made.campaign.id, made.invites["ann"]
    tab1 = rater_app(env, cid, monkeypatch, link=link)
    tab2 = rater_app(env, cid, monkeypatch, link=link)
    assert shown_item(tab1) == shown_item(tab2)
    item = shown_item(tab1)
    tab1 = rate_in_app(tab1, "1", comment="first tab")
    assert tab1.success[0].value == "Saved item 1."
    tab2 = rate_in_app(tab2, "2", comment="second tab")
    assert "already saved" in tab2.warning[0].value
    rows = [r for r in rating_rows(env.store, cid) if r["item"] == item]
    assert len(rows) == 1 and rows[0]["comment"] == "first tab"
    again = save_rating(env.store, cid, link, None, item, "tie", FULL)  # the library says so too
    assert not again and again.duplicate and not again.stored


# --------------------------------------------------------------------------- sides and position bias


def test_sides_counterbalanced_per_rater(env: Env) -> None:
    """Every rater sees each run of a pair first on half of that pair's items (+-1), the better gold
    output first on half the gold items, with a shared-everything campaign and with overlap < 1."""
    x, y, z = env.runs["x"], env.runs["y"], env.runs["z"]
    made = create_campaign(env.store, [x, y], n=10)
    names = [f"rater-{i}" for i in range(8)]
    for name in names:
        while (it := next_item(env.store, made.campaign.id, made.rater_token, name)) is not None:
            save_rating(env.store, made.campaign.id, made.rater_token, name, it.token, "tie", FULL)
    rows = rating_rows(env.store, made.campaign.id)
    for name in names:
        mine = [r for r in rows if r["rater"] == name]
        assert len(mine) == 10 and sum(r["first"] == "A" for r in mine) == 5, name
    # three runs, gold items, and raters who share exclusive items between them (overlap 0.3),
    # rating in turns so that each one's set of items depends on the others
    made = create_campaign(env.store, [x, y, z], n=7, overlap=0.3, gold=gold_file(env))
    cid, tok = made.campaign.id, made.rater_token
    open_ = ["ann", "bob", "cy"]
    while open_:
        for name in list(open_):
            it = next_item(env.store, cid, tok, name)
            if it is None:
                open_.remove(name)
                continue
            save_rating(env.store, cid, tok, name, it.token, "1", FULL)
    rows = rating_rows(env.store, cid)
    for name in ("ann", "bob", "cy"):
        groups: dict[Any, list[bool]] = {}
        for r in rows:
            if r["rater"] == name:
                groups.setdefault((r["kind"], r["run_a"], r["run_b"]), []).append(r["first"] == "A")
        assert len(groups) == 4  # three pairs of runs and the gold items
        for key, firsts in groups.items():
            assert abs(2 * sum(firsts) - len(firsts)) <= 1, (name, key, firsts)


def test_position_bias_reported(env: Env) -> None:
    """A rater who always picks Output 1 shows a first-position share of 1.0; one who always picks
    run x shows 0.5 (the sides are balanced), and `rate results` prints both."""
    x, y = env.runs["x"], env.runs["y"]
    made = create_campaign(env.store, [x, y], n=12, gold=gold_file(env))
    cid, tok = made.campaign.id, made.rater_token
    while (it := next_item(env.store, cid, tok, "first-picker")) is not None:
        save_rating(env.store, cid, tok, "first-picker", it.token, "1", FULL)
    while (it := next_item(env.store, cid, tok, "x-fan")) is not None:
        save_rating(env.store, cid, tok, "x-fan", it.token, "1" if "reply-x" in it.output_1 else "2", FULL)
    res = campaign_results(env.store, cid, made.admin_token, n_boot=200)
    bias = {b.rater: b for b in res.position_bias}
    fp, fan, every = bias["first-picker"], bias["x-fan"], bias[None]
    assert (fp.n_ratings, fp.a_first, fp.n, fp.first) == (12, 6, 12, 12)
    assert fp.share == 1.0 and fp.ci_low == 1.0 and fp.ci_high == 1.0
    assert (fan.n, fan.first, fan.share) == (12, 6, 0.5)
    assert fan.ci_low is not None and fan.ci_high is not None and fan.ci_low < 0.5 < fan.ci_high
    assert (every.n, every.first) == (24, 18) and every.share == pytest.approx(0.75)
    text = render_results(res)
    assert "human position bias" in text and "first-picker" in text


def test_order_tag_keeps_the_side_that_was_shown(env: Env) -> None:
    """The rater opens an item, saves another one of the same pair elsewhere (which changes the
    balance), then saves the first one: the rating follows the side the page showed."""
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=10, raters=["ann"])
    cid, link = made.campaign.id, made.invites["ann"]
    for _ in range(3):
        it = next_item(env.store, cid, link, None)
        assert it is not None
        other = next(
            t for t in [i["token"] for i in _all_items(env, cid)] if t != it.token and _unrated(env, cid, t)
        )
        save_rating(env.store, cid, link, None, other, "tie", FULL)
        assert save_rating(env.store, cid, link, None, it.token, "1", FULL, order=it.order)
        row = next(r for r in rating_rows(env.store, cid) if r["item"] == it.token)
        shown_first = item_row(env.store, it.token)["output_a" if row["first"] == "A" else "output_b"]
        assert shown_first == it.output_1 and row["preference"] == row["first"]
    it = next_item(env.store, cid, link, None)
    assert it is not None
    with pytest.raises(InputError, match="out of date"):
        save_rating(env.store, cid, link, None, it.token, "1", FULL, order="0" * 24)


def _all_items(env: Env, cid: str) -> list[dict[str, Any]]:
    with env.store.engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(rating_items.select().where(rating_items.c.campaign_id == cid)).mappings()
        ]


def _unrated(env: Env, cid: str, token: str) -> bool:
    return all(r["item"] != token for r in rating_rows(env.store, cid))


# --------------------------------------------------------------------------- what the rater sees


def test_instruction_and_reference(env: Env) -> None:
    x, y = env.runs["x"], env.runs["y"]
    plain = create_campaign(env.store, [x, y], n=3, gold=gold_file(env))
    tok = plain.rater_token
    assert tok is not None
    seen = []
    while (it := next_item(env.store, plain.campaign.id, tok, "ann")) is not None:
        assert it.instruction == "Reply with a JSON object."  # the suite's system prompt; gold too
        assert it.reference is None  # not asked for
        seen.append(it)
        save_rating(env.store, plain.campaign.id, tok, "ann", it.token, "tie", FULL)
    assert len(seen) == 5
    # run y was made with a prompt without a system message: the instruction still comes through
    assert all("Reply with a JSON object." not in it.input for it in seen)
    shown = create_campaign(env.store, [x, y], n=3, show_reference=True, gold=gold_file(env))
    assert shown.campaign.show_reference
    st = shown.rater_token
    assert st is not None
    while (it := next_item(env.store, shown.campaign.id, st, "ann")) is not None:
        row = item_row(env.store, it.token)
        if row["kind"] == "pair":
            n = int(row["sample_id"].split("-")[1])
            label = ["billing", "shipping", "account", "refund", "technical"][n % 5]
            assert it.reference == json.dumps({"category": label})
        else:
            assert it.reference == row["output_a"]  # a gold item's reference: its better output
        save_rating(env.store, shown.campaign.id, st, "ann", it.token, "tie", FULL)


SCALES_YAML = """\
- name: correctness
  description: Is the category right for the ticket?
- name: politeness
  description: Would a customer find it polite?
  required: false
"""


def test_scales_from_the_campaign(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "scales.yaml"
    path.write_text(SCALES_YAML)
    scales = load_scales(path)
    assert scales == (
        Scale("correctness", "Is the category right for the ticket?", True),
        Scale("politeness", "Would a customer find it polite?", False),
    )
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=3, scales=scales)
    cid, tok = made.campaign.id, made.rater_token
    assert tok is not None and get_campaign(env.store, cid).scales == scales
    it = next_item(env.store, cid, tok, "ann")
    assert it is not None
    with pytest.raises(InputError, match="unknown scale 'accuracy'"):
        save_rating(env.store, cid, tok, "ann", it.token, "1", FULL)
    with pytest.raises(InputError, match=r"please answer: correctness \(Output 2\)"):
        save_rating(env.store, cid, tok, "ann", it.token, "1", {"1": {"correctness": 5}})
    assert save_rating(
        env.store, cid, tok, "ann", it.token, "1", {"1": {"correctness": 5}, "2": {"correctness": 2}}
    )
    # the rater app draws the campaign's scales, with their descriptions, and stores them
    at = rater_app(env, cid, monkeypatch)
    at.text_input[0].input("bob")
    at.text_input[1].input(tok)
    at = next(b for b in at.button if b.label == "Start rating").click().run()
    item = shown_item(at)
    labels = {r.key: (r.label, r.help) for r in at.radio if not r.key.startswith("pref-")}
    assert labels == {
        f"correctness-1-{item}": ("Correctness", "Is the category right for the ticket?"),
        f"correctness-2-{item}": ("Correctness", "Is the category right for the ticket?"),
        f"politeness-1-{item}": ("Politeness (optional)", "Would a customer find it polite?"),
        f"politeness-2-{item}": ("Politeness (optional)", "Would a customer find it polite?"),
    }
    at = submit(fill_in(at, "2", scales=["correctness"]))  # politeness is optional
    assert not at.error and at.success[0].value == "Saved item 1."
    for _ in range(2):
        at = rate_in_app(at, "2", scales=["correctness", "politeness"])
    rows = stored_rows(env.store, cid)  # the store's reader: scales without a column of their own too
    bob = [r for r in rows if r["rater"] == "bob"]
    assert len(bob) == 3 and all(r["a_accuracy"] is None for r in bob)
    first = next(r for r in bob if r["item"] == item)
    side = first["first"].lower()
    assert first[f"{side}_correctness"] == 4 and first.get(f"{side}_politeness") is None
    assert all(r[f"{r['first'].lower()}_politeness"] == 4 for r in bob if r["item"] != item)
    res = campaign_results(env.store, cid, made.admin_token, n_boot=50)
    assert res.scales == ["correctness", "politeness"]
    assert all(set(s.scales) == {"correctness", "politeness"} for s in res.strengths)
    assert {a.name for a in res.agreement} == {"preference", "correctness", "politeness"}
    assert "correctness" in render_results(res)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("- name: ok\n  description: fine\n- name: a: b\n", 3, "invalid YAML"),
        ("- name: ok\n  description: fine\n- name: Bad Name\n  description: x\n", 3, "lowercase"),
        ("- name: ok\n  description: fine\n- name: ok\n  description: again\n", 3, "named twice"),
        ("- name: ok\n  description: fine\n  required: maybe\n", 3, "true or false"),
        ("- name: ok\n  descripton: typo\n", 2, "unknown key 'descripton'"),
        ("name: ok\n", 1, "expected a YAML list"),
    ],
)
def test_bad_scales_file(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, message: str
) -> None:
    path = tmp_path / "scales.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        load_scales(path)
    assert any(p.line == line for p in e.value.problems), e.value.render()
    assert message in e.value.render()
    code = cli(["rate", "create", "--runs", env.runs["x"], env.runs["y"], "--n", "2", "--scales", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and f"{path}:{line}:" in err


# --------------------------------------------------------------------------- invitations and names


def test_per_rater_invitations(env: Env) -> None:
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=3, raters=["Alice", EVIL])
    cid = made.campaign.id
    assert made.rater_token is None and set(made.invites) == {"alice", EVIL}
    assert made.campaign.raters == sorted(["alice", EVIL])
    with env.store.engine.connect() as conn:
        stored = json.dumps([dict(r) for r in conn.execute(rating_raters.select()).mappings()])
    assert all(t not in stored for t in made.invites.values())  # only their sha256
    alice = made.invites["alice"]
    sess = open_session(env.store, alice)
    assert (sess.campaign_id, sess.rater, sess.personal) == (cid, "alice", True)
    assert open_session(env.store, alice, " ALICE ").rater == "alice"
    with pytest.raises(InputError, match="another rater"):
        open_session(env.store, alice, "bob")  # a link cannot rate as someone else
    it = next_item(env.store, cid, alice, None)
    assert it is not None
    with pytest.raises(InputError, match="another rater"):
        save_rating(env.store, cid, alice, "mallory", it.token, "1", FULL)
    assert save_rating(env.store, cid, alice, None, it.token, "1", FULL)
    assert {r["rater"] for r in rating_rows(env.store, cid)} == {"alice"}
    evil_item = next_item(env.store, cid, made.invites[EVIL], None)
    assert evil_item is not None and evil_item.position == 1  # each rater's own sequence
    with pytest.raises(InputError, match="does not open"):
        open_session(env.store, "rt-guess", "alice")
    with pytest.raises(InputError, match="already|more than once"):
        create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=3, raters=["ann", " ANN"])


def test_cli_prints_one_link_per_rater(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = env.runs["x"], env.runs["y"]
    assert (
        cli(["rate", "create", "--runs", x, y, "--n", "2", "--raters", "alice, bob", "--port", "8611"]) == 0
    )
    out = capsys.readouterr().out
    links = {line.split()[0]: line.split()[1] for line in out.splitlines() if "/?t=" in line}
    assert set(links) == {"alice", "bob"} and "rater token" not in out
    assert all(u.startswith("http://127.0.0.1:8611/?t=rk-") for u in links.values())
    tokens = {n: u.split("?t=")[1] for n, u in links.items()}
    assert {open_session(env.store, t).rater for t in tokens.values()} == {"alice", "bob"}
    assert cli(["rate", "create", "--runs", x, y, "--raters", "a,A"]) == 2
    assert "more than once" in capsys.readouterr().err
    assert cli(["rate", "create", "--runs", x, y, "--raters", " , "]) == 2


def test_app_link_logs_in_and_reload_keeps_the_session(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=4, raters=["alice", EVIL])
    cid = made.campaign.id
    at = rater_app(env, cid, monkeypatch, link=made.invites["alice"])
    assert not at.exception and at.title[0].value == "Which answer is better?"  # no form to fill in
    assert at.text[0].value == "Rater: alice" and at.query_params["t"] == made.invites["alice"]
    at = rate_in_app(at, "1")
    at = rate_in_app(at, "2")
    reloaded = rater_app(env, cid, monkeypatch, link=made.invites["alice"])  # a reload: same URL
    assert reloaded.title[0].value == "Which answer is better?" and "item 3 ·" in reloaded.caption[0].value
    assert_blind(reloaded, env)
    # a Markdown-looking name is drawn as text, never as a link
    evil = rater_app(env, cid, monkeypatch, link=made.invites[EVIL])
    assert evil.text[0].value == f"Rater: {EVIL}"
    markdown = (
        [m.value for m in evil.markdown] + [c.value for c in evil.caption] + [t.value for t in evil.title]
    )
    assert not any("evil" in m for m in markdown)
    # a wrong link: an error and the login form
    bad = rater_app(env, cid, monkeypatch, link="rk-wrong")
    assert "does not open" in bad.error[0].value and any(b.label == "Start rating" for b in bad.button)
    # "Switch rater" forgets the link
    at = next(b for b in at.button if b.label == "Switch rater").click().run()
    assert at.title[0].value == "Rate answers" and "t" not in at.query_params


def test_app_typed_name_is_text(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=1)
    at = rater_app(env, made.campaign.id, monkeypatch)
    at.text_input[0].input(EVIL)
    at.text_input[1].input(made.rater_token)
    at = next(b for b in at.button if b.label == "Start rating").click().run()
    assert at.text[0].value == f"Rater: {EVIL}"
    at = rate_in_app(at, "tie")
    assert at.title[0].value == "All done" and at.text[0].value == f"Rater: {EVIL}"
    blob = "\n".join(str(m.proto) for m in [*at.markdown, *at.success, *at.caption])
    assert "evil" not in blob
    assert any(EVIL in w for w in walk(at._tree))


def test_campaign_made_before_these_features_still_rates(env: Env) -> None:
    """A campaign stored before migration 7 (no instruction rows, no scales or side rule in its body)
    is served as before: the four default scales, the per-item coin for sides, no instruction."""
    from sqlalchemy import delete, update

    from harness.store import rating_campaigns, rating_item_context

    made = create_campaign(env.store, [env.runs["x"], env.runs["y"]], n=4)
    cid, tok = made.campaign.id, made.rater_token
    assert tok is not None
    with env.store.engine.begin() as conn:
        row = conn.execute(rating_campaigns.select().where(rating_campaigns.c.id == cid)).mappings().one()
        body = {
            k: v for k, v in json.loads(row["body"]).items() if k not in ("order", "scales", "show_reference")
        }
        conn.execute(
            update(rating_campaigns).where(rating_campaigns.c.id == cid).values(body=json.dumps(body))
        )
        conn.execute(delete(rating_item_context).where(rating_item_context.c.campaign_id == cid))
    camp = get_campaign(env.store, cid)
    assert [s.name for s in camp.scales] == ["accuracy", "format", "tone", "completeness"]
    while (it := next_item(env.store, cid, tok, "ann")) is not None:
        assert it.instruction == "" and it.reference is None
        row = item_row(env.store, it.token)
        assert save_rating(env.store, cid, tok, "ann", it.token, "1", FULL)
        stored = next(r for r in rating_rows(env.store, cid) if r["item"] == it.token)
        assert (stored["first"] == "A") == (it.output_1 == row["output_a"])
    assert len(campaign_results(env.store, cid, made.admin_token, n_boot=50).position_bias) == 2
