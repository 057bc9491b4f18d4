"""tunebench export mlflow [ID ...]: stored runs, comparisons, verdicts and training runs to MLflow."""

from __future__ import annotations

import argparse

from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export stored results to an experiment tracker (MLflow)",
        description="Export stored results to an experiment tracker. Exporting again creates nothing new.",
    )
    es = p.add_subparsers(dest="export_command", metavar="TRACKER")
    m = es.add_parser(
        "mlflow",
        help="runs, comparisons, training runs as MLflow runs; verdicts as tags (extra `mlflow`)",
        description="Export to MLflow: a run becomes an MLflow run with params (suite@version+hash, model "
        "identity, prompt, generation config), metrics with CI bounds (NAME, NAME.ci_low, NAME.ci_high) and "
        "the per-sample table (samples.csv); a training run logs its loss curves as step metrics; a "
        "comparison logs per-metric deltas with CIs; a verdict becomes tags on its candidate runs and "
        "comparisons. Objects referred to (a comparison's runs, a training run's evaluation runs) are "
        "exported too. Each MLflow run carries the tag tunebench.id, so exporting again finds it instead "
        "of creating it.",
    )
    m.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="run, comparison, verdict or training ids (or unique prefixes); none: everything stored",
    )
    m.add_argument(
        "--tracking-uri",
        default="./mlruns",
        help="MLflow tracking URI: a server (http://HOST:5000), or a local folder (default ./mlruns)",
    )
    m.add_argument("--experiment", default="tunebench", help="MLflow experiment name (default tunebench)")
    m.set_defaults(func=mlflow_main)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def mlflow_main(args: argparse.Namespace) -> int:
    from ..export import export_mlflow

    store = open_store(args)
    res = export_mlflow(store, args.ids, tracking_uri=args.tracking_uri, experiment=args.experiment)
    for note in res.notes:
        print(f"note: {note}")
    print(
        f"exported to {res.tracking_uri} (experiment {args.experiment}, id {res.experiment_id}): "
        f"{len(res.created)} MLflow run(s) created, {len(res.found)} already there, "
        f"{len(res.tagged)} verdict(s) written as tags"
    )
    for obj_id, mid in res.mlflow_ids.items():
        print(f"  {obj_id} -> {mid}{'  (new)' if obj_id in res.created else ''}")
    return 0
