"""The rater's app: a separate Streamlit app (not a page of the main dashboard) for one blinded
rating campaign. Start it with `tunebench rate serve CAMPAIGN --port N`.

A rater enters a name and the campaign's rater token, then rates one item at a time: the input, two
outputs ("Output 1", "Output 2"), 1-5 scales for each and a preference. Each rating is stored when
submitted; the position comes from the stored ratings, so a reload (or another browser) resumes at
the first unrated item.

Blinding: this app only ever holds a `BlindItem` (opaque item token, input, the two output texts).
Run ids, model names and adapter paths stay in the store; widget keys use the opaque item token;
no query parameters are used; texts are shown with st.code (never as Markdown or HTML).
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

import streamlit as st

from harness.errors import InputError
from harness.ratings import SCALES, login, next_item, progress, save_rating
from harness.store import Store

STORE_ENV = "TUNEBENCH_STORE"
CAMPAIGN_ENV = "TUNEBENCH_RATE_CAMPAIGN"
CHOICE_LABELS = {"1": "Output 1", "2": "Output 2", "tie": "Tie", "both_bad": "Both bad"}
SCALE_HELP = {
    "accuracy": "Is it correct and faithful to the input?",
    "format": "Does it follow the requested format?",
    "tone": "Is the tone appropriate?",
    "completeness": "Does it cover everything asked?",
}


@st.cache_resource
def _store(url: str | None) -> Store:
    return Store(url) if url else Store()


def _logout() -> None:
    for k in ("rater", "campaign", "token", "flash"):
        st.session_state.pop(k, None)


def _login_view(store: Store) -> None:
    st.title("Rate answers")
    st.write("Enter your name and the campaign token you were given.")
    with st.form("login"):
        name = st.text_input("Your name", max_chars=100)
        token = st.text_input("Campaign token", type="password")
        ok = st.form_submit_button("Start rating", type="primary")
    if ok:
        try:
            cid = login(store, token, name, os.environ.get(CAMPAIGN_ENV) or None)
        except InputError as e:
            st.error(str(e.args[0]))
            return
        st.session_state["rater"] = " ".join(name.split())
        st.session_state["campaign"] = cid
        st.session_state["token"] = token.strip()
        st.rerun()


def _rating_view(store: Store) -> None:
    rater, cid, token = st.session_state["rater"], st.session_state["campaign"], st.session_state["token"]
    item = next_item(store, cid, token, rater)
    top = st.columns([4, 1])
    top[1].button("Switch rater", on_click=_logout)
    flash = st.session_state.pop("flash", None)
    if item is None:
        p = progress(store, cid, token, rater)
        top[0].title("All done")
        if flash:
            st.caption(flash)
        st.success(
            f"Thank you, {rater}. You rated {p.done} item(s); nothing is left for you in this campaign."
        )
        return
    top[0].title("Which answer is better?")
    st.caption(f"Rater: {rater} · item {item.position} · {item.remaining} left (this one included)")
    if flash:
        st.success(flash)
    st.subheader("Input")
    st.code(item.input, language=None, wrap_lines=True)
    cols = st.columns(2)
    for i, text in (("1", item.output_1), ("2", item.output_2)):
        with cols[int(i) - 1]:
            st.subheader(f"Output {i}")
            st.code(text, language=None, wrap_lines=True)
    with st.form(key=f"rate-{item.token}"):
        st.markdown("**Rate each output from 1 (poor) to 5 (excellent)**")
        scols = st.columns(2)
        for i in ("1", "2"):
            with scols[int(i) - 1]:
                st.markdown(f"**Output {i}**")
                for s in SCALES:
                    st.radio(
                        s.capitalize(),
                        [1, 2, 3, 4, 5],
                        index=None,
                        horizontal=True,
                        key=f"{s}-{i}-{item.token}",
                        help=SCALE_HELP[s],
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
        submitted = st.form_submit_button("Submit and next", type="primary")
    if submitted:
        state = st.session_state
        choice = state.get(f"pref-{item.token}")
        scores = {i: {s: state.get(f"{s}-{i}-{item.token}") for s in SCALES} for i in ("1", "2")}
        missing = [f"{s} (Output {i})" for i in scores for s in SCALES if scores[i][s] is None]
        if choice is None:
            missing.insert(0, "which output is better")
        if missing:
            st.error("Please answer: " + ", ".join(missing))
            return
        try:
            new = save_rating(
                store, cid, token, rater, item.token, choice, scores, state.get(f"comment-{item.token}", "")
            )
        except InputError as e:
            st.error(str(e.args[0]))
            return
        st.session_state["flash"] = f"Saved item {item.position}." if new else "That item was already saved."
        st.rerun()


def _page() -> None:
    store = _store(os.environ.get(STORE_ENV))
    if "campaign" in st.session_state:
        _rating_view(store)
    else:
        _login_view(store)


def main() -> None:
    st.set_page_config(page_title="Rate answers", layout="wide", initial_sidebar_state="collapsed")
    st.navigation([st.Page(_page, title="Rate answers", default=True)], position="hidden").run()


if __name__ == "__main__":  # `streamlit run` (and AppTest) run this file as __main__
    main()
