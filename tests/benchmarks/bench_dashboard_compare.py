"""Benchmark: the dashboard's Compare page on two stored 100,000-sample runs (issue 8, item 6).

Build the store first (`python tests/benchmarks/bench_scale.py --build DIR --n 100000`), then:

    python tests/benchmarks/bench_dashboard_compare.py --folder DIR

Times the page's first render with Streamlit's AppTest (the page's default reads the stored
comparison), a re-render, and a render that computes the comparison live.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", default="/tmp/tb-scale", help="folder built by bench_scale.py --build")
    args = ap.parse_args()
    folder = Path(args.folder)
    runs = json.loads((folder / "runs.json").read_text())
    os.environ["TUNEBENCH_STORE"] = f"sqlite:///{folder / 'tunebench.db'}"

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    init = PagesManager.__init__

    def patched(
        self: Any, *a: Any, **k: Any
    ) -> None:  # serve app.py's navigation, as `tunebench dashboard` does
        init(self, *a, **k)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = patched  # type: ignore[method-assign]
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["runs"] = f"{runs['run_a']},{runs['run_b']}"
    at.switch_page("pages/compare.py")
    t0 = time.perf_counter()
    at.run()
    print(f"first render: {time.perf_counter() - t0:.2f}s; exceptions={[e.value for e in at.exception]}")
    t0 = time.perf_counter()
    at.run()
    print(f"re-render: {time.perf_counter() - t0:.2f}s")
    t0 = time.perf_counter()
    at.toggle(key="cmp_stored").set_value(False).run()
    print(f"computed live (stored comparison off): {time.perf_counter() - t0:.2f}s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
