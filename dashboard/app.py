"""tunebench dashboard: a multipage Streamlit app that reads the store (it never writes results).

Start it with `tunebench dashboard [--port 8501] [--host 127.0.0.1]`. The store URL comes from
`--store URL` after `--` on the streamlit command line, else $TUNEBENCH_STORE, else the workspace
default.

Prefer the CLI to a bare `streamlit run dashboard/app.py`: Streamlit treats a folder named pages/ beside
the main script as its legacy multipage mode and would serve each page file on its own (without this
navigation) until this script has run once; the CLI switches that mode off before the server starts.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

HERE = Path(__file__).resolve().parent
PagesManager.uses_pages_directory = False  # this app's pages are the st.navigation below

# The favicon is an emoji, which the browser draws itself: a Material icon favicon is fetched from
# fonts.gstatic.com, and the dashboard must work offline (icons inside the pages are a bundled font).
st.set_page_config(page_title="tunebench", page_icon="📊", layout="wide")

# The default page is served at "/", whatever its url_path, so `/runs` would be "Page not found":
# a hidden page answers there and switches to the Runs page.
runs_page = st.Page("pages/runs.py", title="Runs", icon=":material/list:", url_path="runs_home", default=True)
pages = [
    runs_page,
    st.Page(lambda: st.switch_page(runs_page), title="Runs", url_path="runs", visibility="hidden"),
    st.Page("pages/run_detail.py", title="Run detail", icon=":material/search:", url_path="run_detail"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/training.py", title="Training", icon=":material/model_training:", url_path="training"),
    st.Page("pages/gate.py", title="Gate", icon=":material/verified:", url_path="gate"),
    st.Page("pages/judge.py", title="Judge", icon=":material/gavel:", url_path="judge"),
    st.Page("pages/trends.py", title="Trends", icon=":material/trending_up:", url_path="trends"),
]
if (HERE / "pages" / "ratings.py").exists():  # the rating campaign's admin results, when installed
    pages.append(
        st.Page("pages/ratings.py", title="Ratings", icon=":material/thumbs_up_down:", url_path="ratings")
    )

nav = st.navigation(pages)
with st.sidebar:
    from dashboard.data import display_url, store_url

    st.caption("store")
    st.text(display_url(store_url()))
nav.run()
