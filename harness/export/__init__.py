"""Export stored results to experiment trackers: `export_mlflow` (runs, comparisons, verdicts and
training runs as MLflow runs and tags; idempotent)."""

from .mlflow import ExportResult, export_mlflow, tracking_uri_of

__all__ = ["ExportResult", "export_mlflow", "tracking_uri_of"]
