"""Plain-text rendering of a training-data hygiene report (`tunebench data check`, the demo)."""

from __future__ import annotations

from harness.fmt import num, table
from harness.hygiene import KINDS, HygieneReport


def render_hygiene(report: HygieneReport, max_findings: int = 20) -> str:
    """Counts per finding kind (and whether they are removed), the first `max_findings` findings
    as `file:line: kind: detail`, and the verdict."""
    removing = set(report.config.remove) | {"schema"}
    rows = [(k, report.counts.get(k, 0), "yes" if k in removing else "no") for k in KINDS]
    lines = [f"{report.file}  sha256:{report.data_hash[:12]}  {report.n_rows} rows"]
    if report.holdout:
        h = report.holdout
        lines.append(f"held out {h.n} rows as dev (fraction {h.fraction}, seed {h.seed}); not checked")
    if report.suites:
        lines.append(
            "contamination checked against: "
            + ", ".join(
                f"{s.ref} ({', '.join(f'{k}={v}' for k, v in s.splits.items())})" for s in report.suites
            )
        )
    else:
        lines.append("contamination not checked (no --against suite)")
    lines.append(f"JSON outputs {'checked' if report.json_checked else 'not checked'}")
    lines += ["", table(["kind", "findings", "removed"], rows, align="lrl"), ""]
    for f in report.findings[:max_findings]:
        where = f"{report.file}:{f.line}" if f.line is not None else report.file
        lines.append(f"{where}: {f.kind}: {f.detail}")
    if len(report.findings) > max_findings:
        lines.append(f"... and {len(report.findings) - max_findings} more (--format json lists them all)")
    if report.findings:
        lines.append("")
    verdict = (
        "clean"
        if report.clean
        else f"{len(report.findings)} finding(s) in {report.n_removed} row(s) to remove"
    )
    lines.append(
        f"{verdict}; a clean file keeps {report.n_kept} of {report.n_checked} checked rows "
        f"({num(report.elapsed_s, 2)}s)"
    )
    return "\n".join(lines)
