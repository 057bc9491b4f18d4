"""`classification`: label accuracy per sample, macro precision/recall/F1 over the corpus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..types import Completion, Sample, Score
from ._common import generation_error, output_field, reference_field, short
from .base import BaseScorer, ScoreContext, not_applicable, register_scorer

_QUOTES = "\"'`"


def macro_prf(pairs: Sequence[tuple[str | None, str]], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro precision/recall/F1 of (pred, gold) pairs.

    Per label: P = TP/(TP+FP) (0 when nothing was predicted as it), R = TP/(TP+FN) (0 when it has no
    gold support), F1 = 2PR/(P+R) (0 when P+R == 0). The macro average runs over the labels of
    `labels` that occur as gold or as prediction in `pairs`, the semantics of scikit-learn's
    `precision_recall_fscore_support(average="macro", labels=<present labels>, zero_division=0)`.
    A prediction outside `labels` (None) is wrong: an FN for its gold label and an FP for none.
    """
    if not pairs:
        return {}
    known = set(labels)
    present = [lab for lab in labels if any(p == lab or g == lab for p, g in pairs)]
    tp = dict.fromkeys(present, 0)
    fp = dict.fromkeys(present, 0)
    fn = dict.fromkeys(present, 0)
    for pred, gold in pairs:
        if pred is not None and pred == gold:
            if gold in tp:
                tp[gold] += 1
            continue
        if pred is not None and pred in known:
            fp[pred] += 1
        if gold in fn:
            fn[gold] += 1
    ps, rs, fs = [], [], []
    for lab in present:
        p = tp[lab] / (tp[lab] + fp[lab]) if tp[lab] + fp[lab] else 0.0
        r = tp[lab] / (tp[lab] + fn[lab]) if tp[lab] + fn[lab] else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        ps.append(p)
        rs.append(r)
        fs.append(f)
    n = len(present)
    return {
        "accuracy": sum(1 for p, g in pairs if p is not None and p == g) / len(pairs),
        "macro_precision": sum(ps) / n if n else 0.0,
        "macro_recall": sum(rs) / n if n else 0.0,
        "macro_f1": sum(fs) / n if n else 0.0,
    }


@register_scorer("classification")
class ClassificationScorer(BaseScorer):
    """The predicted label equals the gold label. Without `field` the whole output is the label; with
    `field` it is that (dotted) field of the output's JSON, and the gold label that field of the
    reference. Matching is forgiving about case, surrounding whitespace and quotes and a trailing
    period; anything else outside `labels` is an invalid prediction (wrong, pred None in data).

    Reports `<name>.accuracy` and macro `<name>.macro_precision`/`macro_recall`/`macro_f1` (see
    `macro_prf`); per-sample Scores carry `{"pred", "gold"}` so that bootstrap resamples can be scored.
    """

    corpus_level = True
    value_range = (0.0, 1.0)

    def __init__(self, name: str, *, labels: list[str], field: str | None = None):
        super().__init__(name)
        if isinstance(labels, str) or not isinstance(labels, (list, tuple)) or not labels:
            raise ValueError("labels must be a non-empty list of strings")
        if not all(isinstance(lab, str) for lab in labels):
            raise ValueError("labels must be strings")
        folded = [self._fold(lab) for lab in labels]
        if len(set(folded)) != len(folded):
            raise ValueError(f"labels must be distinct (ignoring case): {list(labels)}")
        self.labels = list(labels)
        self.field = field
        self._by_fold = dict(zip(folded, self.labels, strict=True))

    @staticmethod
    def _fold(text: str) -> str:
        t = text.strip()
        if len(t) >= 2 and t[0] == t[-1] and t[0] in _QUOTES:
            t = t[1:-1].strip()
        if t.endswith("."):
            t = t[:-1].rstrip()
        return " ".join(t.split()).casefold()

    def canonical(self, value: Any) -> str | None:
        """The label in `labels` that `value` names, or None."""
        if not isinstance(value, str):
            return None
        return self._by_fold.get(self._fold(value))

    def _gold(self, sample: Sample) -> tuple[str | None, str]:
        if self.field is None:
            if sample.reference is None:
                return None, "sample has no reference"
            raw: Any = sample.reference
        else:
            ok, raw, why = reference_field(sample, self.field)
            if not ok:
                return None, why
        if not isinstance(raw, str):
            raw = str(raw)
        return (self.canonical(raw) or raw.strip()), ""

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        gold, why = self._gold(sample)
        if gold is None:
            return [not_applicable(self.name, why)]
        note = "" if gold in self._by_fold.values() else f" (gold label {gold!r} is not in labels)"
        err = generation_error(completion)
        if err:
            return [Score(name=self.name, value=False, detail=err, data={"pred": None, "gold": gold})]
        if self.field is None:
            raw: Any = completion.text
        else:
            ok, raw, why = output_field(completion.text, self.field)
            if not ok:
                return [
                    Score(name=self.name, value=False, detail=why + note, data={"pred": None, "gold": gold})
                ]
        pred = self.canonical(raw)
        data = {"pred": pred, "gold": gold}
        if pred is None:
            shown = short(raw) if isinstance(raw, str) else repr(raw)
            detail = f"invalid label {shown}: expected one of {self.labels}; gold {gold!r}"
            return [Score(name=self.name, value=False, detail=detail + note, data=data)]
        if pred == gold:
            return [Score(name=self.name, value=True, data=data)]
        return [
            Score(name=self.name, value=False, detail=f"expected {gold!r}, got {pred!r}" + note, data=data)
        ]

    def metrics(self, scores: Sequence[Score]) -> dict[str, float]:
        pairs = [
            (s.data.get("pred"), s.data["gold"])
            for s in scores
            if s.name == self.name and s.data.get("gold") is not None
        ]
        return {f"{self.name}.{k}": v for k, v in macro_prf(pairs, self.labels).items()}

    def resample_stats(self, rows: Sequence[Sequence[Score]]) -> Any:
        """Per-sample counts (an ``(n, 2 + 3L)`` array) whose column sums over any resample give
        every metric of `metrics` through `metrics_from_sums`: [pairs, correct, then per label of
        `labels`: true positives, predicted as it, gold is it]. Lets bootstraps resample 100,000
        samples with one matrix product instead of calling `metrics` per resample."""
        import numpy as np

        L = len(self.labels)
        pos = {lab: i for i, lab in enumerate(self.labels)}
        x = np.zeros((len(rows), 2 + 3 * L), dtype=np.float64)
        for r, row in enumerate(rows):
            for s in row:
                if s.name != self.name or s.data.get("gold") is None:
                    continue
                pred, gold = s.data.get("pred"), s.data["gold"]
                x[r, 0] += 1
                if pred is not None and pred == gold:
                    x[r, 1] += 1
                    if gold in pos:
                        x[r, 2 + pos[gold]] += 1
                if pred is not None and pred in pos:
                    x[r, 2 + L + pos[pred]] += 1
                if gold in pos:
                    x[r, 2 + 2 * L + pos[gold]] += 1
        return x

    def metrics_from_sums(self, sums: Any) -> dict[str, Any]:
        """`metrics` from summed `resample_stats` rows (``(..., 2 + 3L)``), vectorized; NaN where
        a resample holds no pairs."""
        import numpy as np

        L = len(self.labels)
        s = np.asarray(sums, dtype=np.float64)
        pairs, correct = s[..., 0], s[..., 1]
        tp, pred, gold = s[..., 2 : 2 + L], s[..., 2 + L : 2 + 2 * L], s[..., 2 + 2 * L :]
        present = (pred + gold) > 0
        n = present.sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(pred > 0, tp / np.where(pred > 0, pred, 1.0), 0.0)
            r = np.where(gold > 0, tp / np.where(gold > 0, gold, 1.0), 0.0)
            f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1.0), 0.0)
            nz = np.where(n > 0, n, 1)
            out = {
                "accuracy": np.where(pairs > 0, correct / np.where(pairs > 0, pairs, 1.0), np.nan),
                "macro_precision": np.where(n > 0, (p * present).sum(axis=-1) / nz, 0.0),
                "macro_recall": np.where(n > 0, (r * present).sum(axis=-1) / nz, 0.0),
                "macro_f1": np.where(n > 0, (f * present).sum(axis=-1) / nz, 0.0),
            }
        empty = pairs <= 0
        return {f"{self.name}.{k}": np.where(empty, np.nan, v) for k, v in out.items()}

    def metric_names(self) -> list[str]:
        return [f"{self.name}.{k}" for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")]
