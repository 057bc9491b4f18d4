"""The rater's app: a separate Streamlit app (not a page of the main dashboard) for one blinded
rating campaign. Start it with `tunebench rate serve CAMPAIGN --port N`.

Logging in. With a personal link (`rate create --raters alice,bob` prints one per rater) the app
reads the token from the URL (`?t=TOKEN`) and logs the rater in under the name the invitation
gives: nothing is typed, nobody can rate as another, and a reload (the URL keeps the token) stays
logged in. A campaign made without --raters has one shared token: the rater types a name and the
token (and logs in again after a reload).

Rating. One item at a time: the task's instruction, the input, the reference answer when the
campaign shows it, two outputs ("Output 1", "Output 2"), 1-5 scores on the campaign's scales for
each and a preference. The item shown is pinned in the session until it is submitted, and every
submitted form is handled before anything else is drawn, so a submit is never dropped: when another
rater took the same exclusive item meanwhile, the rating is kept as an extra one and the rater is
told; a second submit of an item already saved is answered as such. The position comes from the
stored ratings, so a reload (or another browser) resumes at the first unrated item.

Blinding: this app only ever holds `BlindItem`s (opaque item token, texts, an opaque order tag) and
the campaign's scales. Run ids, model names and adapter paths stay in the store; widget keys use the
opaque item token; the only query parameter is the rater's own token; texts and the rater's name are
shown with st.code / st.text (never as Markdown or HTML).
The main dashboard's pages/ folder sits next to this file, and Streamlit serves a pages/ folder
beside the main script on its own (legacy multipage mode) until the script has run once: so
`tunebench rate serve` never runs this file as the main script but a one-line launcher in an empty
temporary folder (`from dashboard.rate_app import main; main()`). `st.navigation` with a single
hidden page is a second fence: once the app runs, no other page exists.

Environment: TUNEBENCH_STORE (store URL; default: the workspace store) and TUNEBENCH_RATE_CAMPAIGN
(the campaign this app serves; without it a token opens whichever campaign it belongs to).
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from harness.errors import InputError
from harness.ratings import BlindItem, Scale, campaign_scales, next_item, open_session, progress, save_rating
from harness.store import Store

STORE_ENV = "TUNEBENCH_STORE"
CAMPAIGN_ENV = "TUNEBENCH_RATE_CAMPAIGN"
TOKEN_PARAM = "t"
PAGE_ICON = "📝"  # an emoji: drawn by the browser, nothing fetched (the app must work offline)
CHOICE_LABELS = {"1": "Output 1", "2": "Output 2", "tie": "Tie", "both_bad": "Both bad"}
SESSION_KEYS = ("rater", "campaign", "token", "flash", "item", "shown")


@st.cache_resource
def _store(url: str | None) -> Store:
    return Store(url) if url else Store()


def _logout() -> None:
    for k in SESSION_KEYS:
        st.session_state.pop(k, None)
    st.query_params.clear()


def _start(store: Store, token: str, name: str | None) -> bool:
    """Open a session; False (with the reason shown) when the token or name is refused."""
    try:
        sess = open_session(store, token, name, os.environ.get(CAMPAIGN_ENV) or None)
    except InputError as e:
        st.error(str(e.args[0]))
        return False
    st.session_state["rater"] = sess.rater
    st.session_state["campaign"] = sess.campaign_id
    st.session_state["token"] = token.strip()
    if sess.personal:  # the URL keeps the rater's own token: a reload stays logged in
        st.query_params[TOKEN_PARAM] = token.strip()
    return True


def _login_view(store: Store) -> None:
    link = st.query_params.get(TOKEN_PARAM)
    if link:
        if _start(store, str(link), None):
            st.rerun()
        st.query_params.clear()
    st.title("Rate answers")
    st.write(
        "Open the personal link you were sent, or enter your name and the campaign token you were given."
    )
    with st.form("login"):
        name = st.text_input("Your name", max_chars=100)
        token = st.text_input("Campaign token", type="password")
        ok = st.form_submit_button("Start rating", type="primary")
    if ok and _start(store, token, name or None):
        st.rerun()


def _answers(tok: str, scales: tuple[Scale, ...]) -> tuple[str | None, dict[str, dict[str, Any]], list[str]]:
    """(preference, scores per shown output, what is missing) from the form's widgets in the session."""
    state = st.session_state
    choice = state.get(f"pref-{tok}")
    scores = {i: {s.name: state.get(f"{s.name}-{i}-{tok}") for s in scales} for i in ("1", "2")}
    missing = [
        f"{s.label} (Output {i})" for i in scores for s in scales if s.required and scores[i][s.name] is None
    ]
    if choice is None:
        missing.insert(0, "which output is better")
    return choice, scores, missing


def _handle_submit(store: Store, scales: tuple[Scale, ...]) -> None:
    """Save the form submitted in this run, whichever item it was for (the page may have moved on:
    a double click, a second tab); a refused or incomplete one is answered with st.error."""
    state = st.session_state
    shown: dict[str, tuple[str, int]] = state.setdefault("shown", {})
    for tok, (order, position) in list(shown.items()):
        if state.get(f"submit-{tok}") is not True:
            continue
        choice, scores, missing = _answers(tok, scales)
        if missing:
            st.error("Please answer: " + ", ".join(missing))
            return
        try:
            res = save_rating(
                store,
                state["campaign"],
                state["token"],
                state["rater"],
                tok,
                str(choice),
                scores,
                state.get(f"comment-{tok}", ""),
                order=order,
            )
        except InputError as e:
            st.error(str(e.args[0]))
            return
        if res.duplicate:
            state["flash"] = (
                "warning",
                f"Item {position} was already saved: this second submit changed nothing.",
            )
        elif res.others:
            state["flash"] = (
                "warning",
                f"Saved item {position}. Another rater rated this item at the same moment: your answers "
                "and comment are kept as an extra rating of it.",
            )
        else:
            state["flash"] = ("success", f"Saved item {position}.")
        shown.pop(tok, None)
        pinned = state.get("item")
        if isinstance(pinned, BlindItem) and pinned.token == tok:
            state.pop("item", None)
        st.rerun()


def _flash(quiet: bool = False) -> None:
    """The answer to the last submit: a warning stays a warning; "saved" is a caption when `quiet`."""
    flash = st.session_state.pop("flash", None)
    if flash:
        kind, text = flash
        (st.warning if kind == "warning" else st.caption if quiet else st.success)(text)


def _text_block(title: str, text: str) -> None:
    st.subheader(title)
    st.code(text, language=None, wrap_lines=True)


def _rating_view(store: Store) -> None:
    state = st.session_state
    rater, cid, token = state["rater"], state["campaign"], state["token"]
    scales = campaign_scales(store, cid)
    _handle_submit(store, scales)
    item = state.get("item")
    if not isinstance(item, BlindItem):
        item = next_item(store, cid, token, rater)
        if item is not None:
            state["item"] = item
            state.setdefault("shown", {})[item.token] = (item.order, item.position)
    top = st.columns([4, 1])
    top[1].button("Switch rater", on_click=_logout)
    if item is None:
        p = progress(store, cid, token, rater)
        top[0].title("All done")
        st.text(f"Rater: {rater}")  # st.text: a name is never read as Markdown
        _flash(quiet=True)
        st.success(f"Thank you. You rated {p.done} item(s); nothing is left for you in this campaign.")
        return
    top[0].title("Which answer is better?")
    st.text(f"Rater: {rater}")
    st.caption(f"item {item.position} · {item.remaining} left (this one included)")
    _flash()
    if item.instruction:
        _text_block("Task instruction", item.instruction)
    _text_block("Input", item.input)
    if item.reference:
        _text_block("Reference answer", item.reference)
    cols = st.columns(2)
    for i, text in (("1", item.output_1), ("2", item.output_2)):
        with cols[int(i) - 1]:
            _text_block(f"Output {i}", text)
    with st.form(key=f"rate-{item.token}"):
        st.markdown("**Rate each output from 1 (poor) to 5 (excellent)**")
        scols = st.columns(2)
        for i in ("1", "2"):
            with scols[int(i) - 1]:
                st.markdown(f"**Output {i}**")
                for s in scales:
                    st.radio(
                        s.label + ("" if s.required else " (optional)"),
                        [1, 2, 3, 4, 5],
                        index=None,
                        horizontal=True,
                        key=f"{s.name}-{i}-{item.token}",
                        help=s.description,
                    )
        st.radio(
            "Which output is better overall?",
            list(CHOICE_LABELS),
            format_func=CHOICE_LABELS.__getitem__,
            index=None,
            horizontal=True,
            key=f"pref-{item.token}",
        )
        st.text_area("Comment (optional)", key=f"comment-{item.token}", max_chars=2000)
        st.form_submit_button("Submit and next", type="primary", key=f"submit-{item.token}")


def _page() -> None:
    store = _store(os.environ.get(STORE_ENV))
    if "campaign" in st.session_state:
        _rating_view(store)
    else:
        _login_view(store)


def main() -> None:
    st.set_page_config(
        page_title="Rate answers", page_icon=PAGE_ICON, layout="wide", initial_sidebar_state="collapsed"
    )
    st.navigation([st.Page(_page, title="Rate answers", default=True)], position="hidden").run()


if __name__ == "__main__":  # `streamlit run` (and AppTest) run this file as __main__
    main()
