"""Multimodal sentiment analysis metrics, in plain NumPy.

Why this module exists: published MSA numbers (MOSI, MOSEI, SIMS) are all produced by
MMSA's ``utils/metricsTop.py``. Small details there (clip *before* rounding, round half to
even, which samples the "Non0" accuracy drops, the SIMS bin edges, the order of the
arguments of ``f1_score``) move the reported numbers by whole points, so they are
reimplemented here exactly and tested, instead of approximated.

The functions only need NumPy. scikit-learn is not imported (it is a test-only
dependency used to check :func:`weighted_f1`), and ``evaluate`` is optional: a thin
``evaluate.Metric`` wrapper ships as package data, see :func:`evaluate_module_path`.

Precision note: clipping, rounding and binning are done in the floating dtype of the
inputs (float32 stays float32), as MMSA does on the float32 arrays its models produce, so
a float32 ``0.1`` lands in the same SIMS bin as in MMSA. MAE and Pearson correlation are
accumulated in float64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

# Canonical family names, and the aliases that map onto them.
_FAMILY_ALIASES: dict[str, str] = {
    "mosi": "mosi",
    "mosei": "mosi",
    "sims": "sims",
    "sims_v2": "sims",
    "classification": "classification",
}

_MOSI_KEYS: tuple[str, ...] = (
    "Has0_acc_2",
    "Has0_F1_score",
    "Non0_acc_2",
    "Non0_F1_score",
    "Mult_acc_5",
    "Mult_acc_7",
    "MAE",
    "Corr",
)
_SIMS_KEYS: tuple[str, ...] = ("Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "F1_score", "MAE", "Corr")
_CLASSIFICATION_KEYS: tuple[str, ...] = ("Accuracy", "F1_score", "Macro_F1")

#: Keys returned by :func:`msa_metrics` for every accepted family name (with default
#: options; ``family="mosi", include_acc_3=True`` adds ``"Mult_acc_3"``).
MSA_METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "mosi": _MOSI_KEYS,
    "mosei": _MOSI_KEYS,
    "sims": _SIMS_KEYS,
    "sims_v2": _SIMS_KEYS,
    "classification": _CLASSIFICATION_KEYS,
}

#: Direction of every metric key, e.g. for ``TrainingArguments.greater_is_better``.
GREATER_IS_BETTER: dict[str, bool] = {
    key: key != "MAE"
    for key in sorted(set(_MOSI_KEYS + _SIMS_KEYS + _CLASSIFICATION_KEYS + ("Mult_acc_3",)))
}

# SIMS bin edges between classes. A value v gets class i when edge[i-1] < v <= edge[i]
# (left-open, right-closed), exactly like MMSA's loops over
# ms_k = [-1.01, ..., 1.01]; values are clipped to [-1, 1] first, so the lowest bin is
# effectively closed at -1 and the highest at 1.
_SIMS_EDGES_2: tuple[float, ...] = (0.0,)
_SIMS_EDGES_3: tuple[float, ...] = (-0.1, 0.1)
_SIMS_EDGES_5: tuple[float, ...] = (-0.7, -0.1, 0.1, 0.7)


def evaluate_module_path() -> str:
    """Folder of the bundled ``evaluate`` metric module, for offline ``evaluate.load``.

    Usage: ``evaluate.load(hf_msa.metrics.evaluate_module_path(), "mosi")``; the second
    argument (``config_name``) picks the family.
    """
    return str(Path(__file__).resolve().parent / "evaluate_metrics" / "msa_metrics")


def _normalize_family(family: Any) -> str:
    """Map a user-given family (or alias) to "mosi", "sims" or "classification"."""
    valid = ", ".join(repr(name) for name in _FAMILY_ALIASES)
    if not isinstance(family, str):
        raise ValueError(f"family must be a string, one of {valid}; got {family!r}")
    key = family.strip().lower().replace("-", "_")
    if key not in _FAMILY_ALIASES:
        raise ValueError(f"Unknown family {family!r}; valid families are {valid}")
    return _FAMILY_ALIASES[key]


def _as_numeric_array(values: Any, name: str) -> np.ndarray:
    """Convert to an ndarray of bool/int/float, rejecting strings, objects and empties."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:  # e.g. ragged nested lists
        raise ValueError(f"{name} could not be converted to a numeric array: {error}") from error
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric (bool, int or float), got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; expected at least one sample")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return array


def _as_vector(array: np.ndarray, name: str, what: str) -> np.ndarray:
    """Accept shape [N] or [N, 1] and return shape [N]."""
    if array.ndim == 1:
        return array
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    raise ValueError(f"{name} must have shape [N] or [N, 1] ({what}), got shape {tuple(array.shape)}")


def _check_same_length(predictions: np.ndarray, labels: np.ndarray) -> None:
    if predictions.shape[0] != labels.shape[0]:
        raise ValueError(
            f"predictions and labels must have the same length; predictions has "
            f"{predictions.shape[0]} samples but labels has {labels.shape[0]}"
        )


def _as_float(array: np.ndarray) -> np.ndarray:
    """Keep float dtypes (MMSA bins float32 in float32); promote bool/int to float64."""
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _as_class_ids(array: np.ndarray, name: str) -> np.ndarray:
    """Integer class ids; integral floats such as 2.0 are accepted, 0.5 is not."""
    if array.dtype.kind in "biu":
        return array.astype(np.int64)
    if not np.all(array == np.round(array)):
        raise ValueError(
            f"{name} must be integer class ids for family 'classification', got non-integer values"
        )
    return array.astype(np.int64)


def _f1_per_class(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 and truth support over the union of classes (sklearn's label set).

    F1 is 2*tp / (support_true + support_pred), which equals 2PR/(P+R) and is 0 when the
    class is never predicted correctly (sklearn's ``zero_division`` result, no warning).
    """
    labels = np.union1d(y_true, y_pred)
    true_idx = np.searchsorted(labels, y_true)
    pred_idx = np.searchsorted(labels, y_pred)
    n_labels = labels.shape[0]
    support_true = np.bincount(true_idx, minlength=n_labels).astype(np.float64)
    support_pred = np.bincount(pred_idx, minlength=n_labels).astype(np.float64)
    true_positive = np.bincount(true_idx[true_idx == pred_idx], minlength=n_labels).astype(np.float64)
    denominator = support_true + support_pred  # > 0 for every label of the union
    f1 = np.where(true_positive > 0, 2.0 * true_positive / np.maximum(denominator, 1.0), 0.0)
    return f1, support_true


def _check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    true = _as_vector(np.asarray(y_true), "y_true", "class labels")
    pred = _as_vector(np.asarray(y_pred), "y_pred", "class labels")
    if true.size == 0 or pred.size == 0:
        raise ValueError("y_true and y_pred must not be empty")
    if true.shape[0] != pred.shape[0]:
        raise ValueError(
            f"y_true and y_pred must have the same length; y_true has {true.shape[0]} "
            f"samples but y_pred has {pred.shape[0]}"
        )
    return true, pred


def weighted_f1(y_true: Any, y_pred: Any) -> float:
    """Support-weighted F1, equal to sklearn's ``f1_score(y_true, y_pred, average="weighted")``.

    Truth comes first: classes are weighted by their support in the *truth*. MMSA swapped
    the arguments before April 2021 (commit cb5e0bd), which inflated old SIMS F1 scores.
    Classes that appear only in the predictions get weight 0 but are part of the label set.
    """
    true, pred = _check_pair(y_true, y_pred)
    f1, support = _f1_per_class(true, pred)
    return float(np.average(f1, weights=support))


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the union of classes (sklearn "macro")."""
    f1, _ = _f1_per_class(y_true, y_pred)
    return float(np.mean(f1))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """``np.corrcoef(x, y)[0, 1]``, or NaN (silently) when it is undefined."""
    if x.shape[0] < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    with np.errstate(all="ignore"):
        value = float(np.corrcoef(x.astype(np.float64), y.astype(np.float64))[0, 1])
    return value if np.isfinite(value) else float("nan")


def _mae(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(x.astype(np.float64) - y.astype(np.float64))))


def _accuracy(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(x == y))


def _rounded_class_accuracy(predictions: np.ndarray, labels: np.ndarray, bound: float) -> float:
    """MOSI Acc-k: clip to [-bound, bound], then ``np.round`` (half to even) and compare."""
    return _accuracy(
        np.round(np.clip(predictions, -bound, bound)),
        np.round(np.clip(labels, -bound, bound)),
    )


def _sims_bins(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Class ids for left-open, right-closed bins; edges compared in the values' dtype."""
    return np.searchsorted(np.asarray(edges, dtype=values.dtype), values, side="left")


def _mosi_metrics(predictions: np.ndarray, labels: np.ndarray, include_acc_3: bool) -> dict[str, float]:
    """MMSA ``__eval_mosei_regression``: MAE/Corr unclipped, Acc-k after clip + round."""
    has0_true = labels >= 0
    has0_pred = predictions >= 0
    non_zero = labels != 0
    if np.any(non_zero):
        non0_true = labels[non_zero] > 0
        non0_pred = predictions[non_zero] > 0
        non0_acc = _accuracy(non0_pred, non0_true)
        non0_f1 = weighted_f1(non0_true, non0_pred)
    else:
        non0_acc = non0_f1 = float("nan")
    result = {
        "Has0_acc_2": _accuracy(has0_pred, has0_true),
        "Has0_F1_score": weighted_f1(has0_true, has0_pred),
        "Non0_acc_2": non0_acc,
        "Non0_F1_score": non0_f1,
        "Mult_acc_5": _rounded_class_accuracy(predictions, labels, 2.0),
        "Mult_acc_7": _rounded_class_accuracy(predictions, labels, 3.0),
        "MAE": _mae(predictions, labels),
        "Corr": _pearson(predictions, labels),
    }
    if include_acc_3:
        result["Mult_acc_3"] = _rounded_class_accuracy(predictions, labels, 1.0)
    return result


def _sims_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """MMSA ``__eval_sims_regression``: clip both to [-1, 1], then bin and score."""
    predictions = np.clip(predictions, -1.0, 1.0)
    labels = np.clip(labels, -1.0, 1.0)
    pred2, true2 = _sims_bins(predictions, _SIMS_EDGES_2), _sims_bins(labels, _SIMS_EDGES_2)
    pred3, true3 = _sims_bins(predictions, _SIMS_EDGES_3), _sims_bins(labels, _SIMS_EDGES_3)
    pred5, true5 = _sims_bins(predictions, _SIMS_EDGES_5), _sims_bins(labels, _SIMS_EDGES_5)
    return {
        "Mult_acc_2": _accuracy(pred2, true2),
        "Mult_acc_3": _accuracy(pred3, true3),
        "Mult_acc_5": _accuracy(pred5, true5),
        "F1_score": weighted_f1(true2, pred2),
        "MAE": _mae(predictions, labels),
        "Corr": _pearson(predictions, labels),
    }


def _classification_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        "Accuracy": _accuracy(predictions, labels),
        "F1_score": weighted_f1(labels, predictions),
        "Macro_F1": _macro_f1(labels, predictions),
    }


def _finalize(values: dict[str, float], round_digits: int | None) -> dict[str, float]:
    """Plain Python floats, rounded like MMSA's ``round(np.float64, 4)`` (numpy rounding)."""
    if round_digits is None:
        return {key: float(value) for key, value in values.items()}
    return {key: float(np.round(np.float64(value), round_digits)) for key, value in values.items()}


def msa_metrics(
    predictions: Any,
    labels: Any,
    family: str,
    round_digits: int | None = 4,
    *,
    include_acc_3: bool = False,
) -> dict[str, float]:
    """Compute the MMSA metric set for one dataset family.

    Args:
        predictions: regression families: scores of shape [N] or [N, 1]. "classification":
            class ids [N] or logits/probabilities [N, C] (argmax over the last axis).
        labels: regression targets [N] (or [N, 1]); integer class ids for "classification".
        family: "mosi" (alias "mosei"), "sims" (alias "sims_v2") or "classification".
        round_digits: decimals to round every value to, like MMSA (4); None keeps full precision.
        include_acc_3: "mosi" only; also report ``Mult_acc_3`` (clip to [-1, 1]), which MMSA
            computes but does not report.

    Returns:
        dict of plain floats with the keys ``MSA_METRIC_KEYS[family]``. ``Corr`` is NaN when
        undefined (constant inputs or fewer than 2 samples); the ``Non0`` keys are NaN when
        every label is exactly 0.

    Raises:
        ValueError: unknown family, empty or non-finite inputs, mismatched lengths, wrong
            shapes, or non-integer classification labels.
    """
    canonical = _normalize_family(family)
    valid_digits = isinstance(round_digits, (int, np.integer)) and not isinstance(round_digits, bool)
    if round_digits is not None and not valid_digits:
        raise ValueError(f"round_digits must be an int or None, got {round_digits!r}")
    pred_array = _as_numeric_array(predictions, "predictions")
    label_array = _as_numeric_array(labels, "labels")

    if canonical == "classification":
        if pred_array.ndim == 2 and pred_array.shape[1] > 1:
            pred_ids = np.argmax(pred_array, axis=-1).astype(np.int64)
        else:
            pred_vector = _as_vector(pred_array, "predictions", "class ids, or [N, C] logits with C >= 2")
            pred_ids = _as_class_ids(pred_vector, "predictions")
        label_ids = _as_class_ids(_as_vector(label_array, "labels", "integer class ids"), "labels")
        _check_same_length(pred_ids, label_ids)
        return _finalize(_classification_metrics(pred_ids, label_ids), round_digits)

    what = f"one regression score per sample for family {family!r}"
    pred_vector = _as_float(_as_vector(pred_array, "predictions", what))
    label_vector = _as_float(_as_vector(label_array, "labels", what))
    _check_same_length(pred_vector, label_vector)
    if canonical == "mosi":
        values = _mosi_metrics(pred_vector, label_vector, include_acc_3)
    else:
        values = _sims_metrics(pred_vector, label_vector)
    return _finalize(values, round_digits)


def make_compute_metrics(family: str, **kwargs: Any) -> Callable[[Any], dict[str, float]]:
    """Build a ``compute_metrics`` callable for ``transformers.Trainer``.

    The callable reads ``eval_pred.predictions`` and ``eval_pred.label_ids``. When the
    model returns several outputs, ``predictions`` is a tuple and its first element (the
    logits / scores) is used; likewise the first element of a tuple of labels. Extra
    ``kwargs`` (``round_digits``, ``include_acc_3``) are forwarded to :func:`msa_metrics`.
    The family is validated now, so a typo fails before training starts. Not meant for
    ``batch_eval_metrics=True`` (metrics here need the whole evaluation set).
    """
    _normalize_family(family)

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        predictions = eval_pred.predictions
        labels = eval_pred.label_ids
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        if isinstance(labels, tuple):
            labels = labels[0]
        return msa_metrics(predictions, labels, family, **kwargs)

    compute_metrics.__name__ = f"compute_metrics_{family}"
    return compute_metrics


__all__ = [
    "GREATER_IS_BETTER",
    "MSA_METRIC_KEYS",
    "evaluate_module_path",
    "make_compute_metrics",
    "msa_metrics",
    "weighted_f1",
]
