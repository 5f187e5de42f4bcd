"""Tests for hf_msa.metrics: MMSA metric semantics, validation, Trainer and evaluate glue.

Expected values are worked out by hand in the comments, not by calling the code under test.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest

from hf_msa import metrics as M
from hf_msa.metrics import (
    GREATER_IS_BETTER,
    MSA_METRIC_KEYS,
    evaluate_module_path,
    make_compute_metrics,
    msa_metrics,
    weighted_f1,
)


def _pearson_by_formula(x, y):
    """Independent Pearson r: sum(dx*dy) / sqrt(sum(dx^2) * sum(dy^2))."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    return float(np.sum(dx * dy) / np.sqrt(np.sum(dx * dx) * np.sum(dy * dy)))


# --------------------------------------------------------------------------- MOSI / MOSEI


MOSI_P = [2.6, -0.4, 0.0, -1.5, 3.8, 0.4]
MOSI_T = [3.0, 0.0, -0.2, -1.0, 2.2, -0.6]


def test_mosi_hand_worked():
    out = msa_metrics(MOSI_P, MOSI_T, "mosi")
    assert tuple(out) == MSA_METRIC_KEYS["mosi"]
    # MAE unclipped: |.4|+|.4|+|.2|+|.5|+|1.6|+|1.0| = 4.1 -> 4.1/6 = 0.68333 -> 0.6833
    # (clipping 3.8 to 3 first would give 3.3/6 = 0.55).
    assert out["MAE"] == 0.6833
    # Acc-7: clip [-3,3] then round-half-even.
    #   p -> [3, -0, 0, -2, 3, 0]; t -> [3, 0, -0, -1, 2, -1]; equal at 0,1,2 -> 3/6
    assert out["Mult_acc_7"] == 0.5
    # Acc-5: clip [-2,2] then round. p -> [2, -0, 0, -2, 2, 0]; t -> [2, 0, -0, -1, 2, -1]
    #   equal at 0,1,2,4 -> 4/6 = 0.6667
    assert out["Mult_acc_5"] == 0.6667
    # Has0: p>=0 [T,F,T,F,T,T], t>=0 [T,T,F,F,T,F]; equal at 0,3,4 -> 0.5
    assert out["Has0_acc_2"] == 0.5
    # Has0 F1 (truth first): support T=3, F=3.
    #   T: pred T at {0,2,4,5}, tp {0,4}=2 -> 2*2/(3+4) = 4/7
    #   F: pred F at {1,3},     tp {3}=1   -> 2*1/(3+2) = 2/5
    #   weighted = (3*4/7 + 3*2/5)/6 = 34/70 = 0.485714 -> 0.4857
    #   (swapped arguments would weight by predicted support: 108/210 = 0.5143)
    assert out["Has0_F1_score"] == 0.4857
    # Non0: drop index 1 (t == 0). t>0 [T,F,F,T,F], p>0 [T,F,F,T,T] -> 4/5
    assert out["Non0_acc_2"] == 0.8
    # Non0 F1: T support 2, pred 3, tp 2 -> 4/5 ; F support 3, pred 2, tp 2 -> 4/5 -> 0.8
    assert out["Non0_F1_score"] == 0.8
    assert out["Corr"] == round(_pearson_by_formula(MOSI_P, MOSI_T), 4)
    assert all(type(value) is float for value in out.values())


def test_mosi_corr_small_hand_case_and_unrounded():
    # p=[1,2,3], t=[1,3,2]: deviations (-1,0,1) and (-1,1,0): cov 1, var 2 and 2 -> r = 1/2
    out = msa_metrics([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], "mosi", round_digits=None)
    assert out["Corr"] == pytest.approx(0.5, abs=1e-12)
    # MAE = (0 + 1 + 1)/3 = 0.666..., unrounded
    assert out["MAE"] == pytest.approx(2.0 / 3.0, abs=1e-12)
    assert out["MAE"] != 0.6667


def test_mosi_rounding_ties_are_half_to_even():
    # np.round: 2.5 -> 2, -0.5 -> -0 (== 0), 1.5 -> 2. Half-away-from-zero would give 3, -1, 2.
    out = msa_metrics([2.5, -0.5, 1.5], [2.0, 0.0, 2.0], "mosi", include_acc_3=True)
    assert out["Mult_acc_7"] == 1.0
    # Acc-5 clips to [-2, 2] first: 2.5 -> 2 -> 2, same answers.
    assert out["Mult_acc_5"] == 1.0
    # Acc-3 clips to [-1, 1]: p -> [1, -0, 1], t -> [1, 0, 1] -> 1.0
    assert out["Mult_acc_3"] == 1.0
    # And a tie that must NOT round up: 2.5 vs label 3 is wrong for Acc-7.
    assert msa_metrics([2.5], [3.0], "mosi")["Mult_acc_7"] == 0.0


def test_mosi_acc3_only_on_request_and_clipped():
    assert "Mult_acc_3" not in msa_metrics(MOSI_P, MOSI_T, "mosi")
    out = msa_metrics(MOSI_P, MOSI_T, "mosi", include_acc_3=True)
    # clip [-1,1] then round: p -> [1, -0, 0, -1, 1, 0]; t -> [1, 0, -0, -1, 1, -1]
    # equal at 0,1,2,3,4 -> 5/6 = 0.8333
    assert out["Mult_acc_3"] == 0.8333


def test_labels_exactly_zero_has0_vs_non0():
    p = [-0.3, 0.5, 0.2, -0.1]
    t = [0.0, 0.0, 1.0, -1.0]
    out = msa_metrics(p, t, "mosi")
    # Has0: t>=0 [T,T,T,F] (zeros are non-negative), p>=0 [F,T,T,F] -> 3/4
    assert out["Has0_acc_2"] == 0.75
    # Has0 F1: T support 3, pred 2, tp 2 -> 4/5; F support 1, pred 2, tp 1 -> 2/3
    #   weighted (3*0.8 + 1*2/3)/4 = 0.766667 -> 0.7667
    assert out["Has0_F1_score"] == 0.7667
    # Non0 drops both zero labels: t>0 [T,F], p>0 [T,F] -> 1.0
    assert out["Non0_acc_2"] == 1.0
    assert out["Non0_F1_score"] == 1.0


def test_non0_empty_subset_gives_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = msa_metrics([0.5, -0.5], [0.0, 0.0], "mosi")
    assert math.isnan(out["Non0_acc_2"]) and math.isnan(out["Non0_F1_score"])
    # Has0: t>=0 [T,T], p>=0 [T,F] -> 0.5
    assert out["Has0_acc_2"] == 0.5


def test_mosei_alias_and_column_predictions():
    column = np.asarray(MOSI_P, dtype=np.float64)[:, None]
    assert msa_metrics(column, MOSI_T, "mosei") == msa_metrics(MOSI_P, MOSI_T, "mosi")
    assert msa_metrics(MOSI_P, MOSI_T, "MOSEI") == msa_metrics(MOSI_P, MOSI_T, "mosi")


# --------------------------------------------------------------------------- SIMS


def test_sims_clipping_changes_mae():
    p = [1.7, -0.5, -1.2]
    t = [1.0, -0.3, -1.5]
    out = msa_metrics(p, t, "sims")
    assert tuple(out) == MSA_METRIC_KEYS["sims"]
    # clipped: p [1, -0.5, -1], t [1, -0.3, -1] -> MAE (0 + 0.2 + 0)/3 = 0.0667
    # (unclipped would be (0.7 + 0.2 + 0.3)/3 = 0.4)
    assert out["MAE"] == 0.0667
    assert out["Corr"] == round(_pearson_by_formula([1, -0.5, -1], [1, -0.3, -1]), 4)
    # bins after clipping: 1 -> Acc2 1, Acc3 2, Acc5 4; -0.5 -> 0, 0, 1 ; -0.3 -> 0, 0, 1
    # -1 -> 0, 0, 0: every bin agrees.
    assert out["Mult_acc_2"] == out["Mult_acc_3"] == out["Mult_acc_5"] == out["F1_score"] == 1.0


@pytest.mark.parametrize(
    ("value", "same_bin", "other_bin", "key"),
    [
        (-0.1, -0.5, 0.0, "Mult_acc_3"),  # -0.1 is class 0 of [-1,-0.1], not (-0.1,0.1]
        (0.1, 0.0, 0.5, "Mult_acc_3"),  # 0.1 is class 1 of (-0.1,0.1], not (0.1,1]
        (0.7, 0.4, 0.9, "Mult_acc_5"),  # 0.7 is class 3 of (0.1,0.7], not (0.7,1]
        (-0.7, -0.9, -0.5, "Mult_acc_5"),  # -0.7 is class 0 of [-1,-0.7]
        (0.0, -0.5, 0.5, "Mult_acc_2"),  # 0 counts as negative
        (-1.0, -0.8, -0.6, "Mult_acc_5"),  # lowest bin is closed at -1
        (-1.5, -0.8, -0.6, "Mult_acc_5"),  # clipped to -1 first
        (1.3, 0.8, 0.6, "Mult_acc_5"),  # clipped to 1, top bin (0.7, 1]
    ],
)
def test_sims_bin_edges(value, same_bin, other_bin, key):
    assert msa_metrics([value], [same_bin], "sims")[key] == 1.0
    assert msa_metrics([value], [other_bin], "sims")[key] == 0.0
    # symmetric: the edge value as the label
    if -1.0 <= value <= 1.0:
        assert msa_metrics([same_bin], [value], "sims")[key] == 1.0


def test_sims_float32_edges_compare_like_mmsa():
    # float32(0.1) = 0.10000000149 as a float64, but MMSA compares float32 arrays with
    # float32 thresholds, so it stays in class 1 of Acc-3 (and class 2 of Acc-5).
    out = msa_metrics(np.float32([0.1, -0.1]), np.float32([0.0, -0.3]), "sims")
    assert out["Mult_acc_3"] == 1.0
    assert out["Mult_acc_5"] == 1.0


def test_sims_weighted_f1_truth_first_and_alias():
    p = [0.5, 0.3, -0.2, 0.6]
    t = [0.4, -0.5, -0.6, -0.2]
    # Acc-2 bins: p [1,1,0,1], t [1,0,0,0] -> equal at 0,2 -> 0.5
    # F1 (truth first): class 0 support 3, pred 1, tp 1 -> 2/4 = 0.5
    #                   class 1 support 1, pred 3, tp 1 -> 2/4 = 0.5 -> weighted 0.5
    # Acc-3 bins: p [2,2,0,2], t [2,0,0,0] -> 0.5
    # Acc-5 bins (edges -0.7,-0.1,0.1,0.7): p [3,3,1,3], t [3,1,1,1] -> 0.5
    out = msa_metrics(p, t, "sims")
    assert out["Mult_acc_2"] == 0.5
    assert out["F1_score"] == 0.5
    assert out["Mult_acc_3"] == 0.5
    assert out["Mult_acc_5"] == 0.5
    assert msa_metrics(p, t, "sims_v2") == out


# --------------------------------------------------------------------------- Corr undefined


@pytest.mark.parametrize("family", ["mosi", "sims"])
@pytest.mark.parametrize(
    ("p", "t"),
    [
        ([0.3, 0.3, 0.3], [1.0, -1.0, 0.5]),  # constant predictions
        ([0.1, 0.1, 0.1], [0.1, 0.1, 0.1]),  # both constant (0.1 mean is not exactly 0.1)
        ([1.0, -1.0, 0.5], [2.0, 2.0, 2.0]),  # constant labels
        ([0.4], [0.2]),  # one sample
    ],
)
def test_corr_undefined_is_nan_without_warning(family, p, t):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = msa_metrics(p, t, family)
    assert math.isnan(out["Corr"])
    assert not math.isnan(out["MAE"])


def test_sims_clipping_can_make_corr_undefined():
    # every prediction clips to 1 -> constant -> nan, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = msa_metrics([1.2, 1.5, 3.0], [0.2, -0.4, 0.9], "sims")
    assert math.isnan(out["Corr"])


# --------------------------------------------------------------------------- classification

LOGITS = np.array([[2.0, 0.1, -1.0], [0.2, 0.3, 0.1], [0.0, 0.0, 5.0], [1.0, 0.5, 0.0]])
CLS_LABELS = np.array([0, 2, 2, 1])


def test_classification_with_logits():
    out = msa_metrics(LOGITS, CLS_LABELS, "classification")
    assert tuple(out) == MSA_METRIC_KEYS["classification"]
    # argmax -> [0, 1, 2, 0]; labels [0, 2, 2, 1] -> accuracy 2/4
    assert out["Accuracy"] == 0.5
    # class 0: support 1, pred 2, tp 1 -> 2/3 ; class 1: support 1, pred 1, tp 0 -> 0
    # class 2: support 2, pred 1, tp 1 -> 2/3
    # weighted (1*2/3 + 0 + 2*2/3)/4 = 0.5 ; macro (2/3 + 0 + 2/3)/3 = 0.4444
    assert out["F1_score"] == 0.5
    assert out["Macro_F1"] == 0.4444
    assert msa_metrics([0, 1, 2, 0], CLS_LABELS, "classification") == out
    assert msa_metrics(LOGITS, CLS_LABELS.astype(np.float64), "classification") == out


def test_classification_class_only_in_predictions():
    # labels [0,0,1], preds [0,2,1]; union {0,1,2}
    # class 0: support 2, pred 1, tp 1 -> 2/3; class 1: 1,1,1 -> 1; class 2: 0,1,0 -> 0
    # weighted (2*2/3 + 1)/3 = 0.7778 ; macro (2/3 + 1 + 0)/3 = 0.5556 ; acc 2/3
    out = msa_metrics([0, 2, 1], [0, 0, 1], "classification")
    assert out == {"Accuracy": 0.6667, "F1_score": 0.7778, "Macro_F1": 0.5556}


# --------------------------------------------------------------------------- weighted_f1


def test_weighted_f1_hand_case_truth_first():
    # truth [0,0,0,1], pred [0,0,1,1]: c0 sup 3 pred 2 tp 2 -> 4/5 ; c1 sup 1 pred 2 tp 1 -> 2/3
    #   truth-weighted (3*0.8 + 1*2/3)/4 = 0.766667
    # swapping the arguments weights by predicted support: truth [0,0,1,1], pred [0,0,0,1]:
    #   c0 sup 2 pred 3 tp 2 -> 4/5 ; c1 sup 2 pred 1 tp 1 -> 2/3 -> (2*0.8 + 2*2/3)/4 = 0.733333
    assert weighted_f1([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx(0.7666666667, abs=1e-9)
    assert weighted_f1([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(0.7333333333, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_weighted_f1_matches_sklearn(seed):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    y_true = rng.integers(0, 3, size=n)
    y_pred = rng.integers(0, 5, size=n)  # classes 3 and 4 only ever predicted
    if seed % 2:
        y_true, y_pred = y_true + 10, y_pred + 10  # non-contiguous label values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sklearn_metrics.f1_score(y_true, y_pred, average="weighted")
        expected_macro = sklearn_metrics.f1_score(y_true, y_pred, average="macro")
    assert weighted_f1(y_true, y_pred) == pytest.approx(expected, abs=1e-12)
    assert M._macro_f1(y_true, y_pred) == pytest.approx(expected_macro, abs=1e-12)
    bools_true, bools_pred = y_true % 2 == 0, y_pred % 3 == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_bool = sklearn_metrics.f1_score(bools_true, bools_pred, average="weighted")
    assert weighted_f1(bools_true, bools_pred) == pytest.approx(expected_bool, abs=1e-12)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("predictions", "labels", "family", "match"),
    [
        ([0.1, 0.2], [0.1], "mosi", "predictions and labels must have the same length"),
        ([], [0.1], "mosi", "predictions is empty"),
        ([0.1], [], "sims", "labels is empty"),
        ([0.1, float("nan")], [0.1, 0.2], "mosi", "predictions contains non-finite"),
        ([0.1, 0.2], [float("inf"), 0.2], "sims", "labels contains non-finite"),
        ([[0.1, float("nan")]], [1], "classification", "predictions contains non-finite"),
        ([0.1], [0.1], "iemocap", r"Unknown family 'iemocap'.*'mosi'.*'classification'"),
        ([0.1], [0.1], None, "family must be a string"),
        (np.zeros((3, 2)), np.zeros(3), "mosi", r"predictions must have shape \[N\] or \[N, 1\]"),
        (np.zeros(3), np.zeros((3, 2)), "sims", r"labels must have shape \[N\] or \[N, 1\]"),
        (np.zeros((2, 2, 2)), [0, 1], "classification", r"predictions must have shape"),
        ([0, 1], [0.5, 1.0], "classification", "labels must be integer class ids"),
        ([0.3, 1.0], [0, 1], "classification", "predictions must be integer class ids"),
        (["a", "b"], [0.1, 0.2], "mosi", "predictions must be numeric"),
    ],
)
def test_validation_errors(predictions, labels, family, match):
    with pytest.raises(ValueError, match=match):
        msa_metrics(predictions, labels, family)


def test_validation_other_arguments():
    with pytest.raises(ValueError, match="round_digits"):
        msa_metrics([0.1], [0.1], "mosi", round_digits=2.5)
    with pytest.raises(ValueError, match="Unknown family 'mosii'"):
        make_compute_metrics("mosii")
    with pytest.raises(ValueError, match="y_true and y_pred must have the same length"):
        weighted_f1([0, 1], [0])
    with pytest.raises(ValueError, match="y_true and y_pred must not be empty"):
        weighted_f1([], [])


# --------------------------------------------------------------------------- tables


def test_key_tables_are_consistent():
    assert MSA_METRIC_KEYS["mosei"] == MSA_METRIC_KEYS["mosi"]
    assert MSA_METRIC_KEYS["sims_v2"] == MSA_METRIC_KEYS["sims"]
    for keys in MSA_METRIC_KEYS.values():
        for key in keys:
            assert GREATER_IS_BETTER[key] is (key != "MAE")
    assert GREATER_IS_BETTER["Mult_acc_3"] is True
    assert GREATER_IS_BETTER["MAE"] is False
    assert set(M.__all__) == {
        "GREATER_IS_BETTER",
        "MSA_METRIC_KEYS",
        "evaluate_module_path",
        "make_compute_metrics",
        "msa_metrics",
        "weighted_f1",
    }


# --------------------------------------------------------------------------- Trainer glue


def test_make_compute_metrics_with_eval_prediction():
    transformers = pytest.importorskip("transformers")
    scores = np.asarray(MOSI_P, dtype=np.float32)[:, None]  # [N, 1] regression head
    hidden = np.zeros((len(MOSI_P), 4), dtype=np.float32)  # extra model output
    labels = np.asarray(MOSI_T, dtype=np.float32)
    eval_pred = transformers.EvalPrediction(predictions=(scores, hidden), label_ids=labels)
    got = make_compute_metrics("mosi", include_acc_3=True)(eval_pred)
    assert got == msa_metrics(scores[:, 0], labels, "mosi", include_acc_3=True)
    assert got["MAE"] == 0.6833

    cls_pred = transformers.EvalPrediction(predictions=LOGITS, label_ids=CLS_LABELS)
    assert make_compute_metrics("classification")(cls_pred)["Accuracy"] == 0.5

    sims_pred = transformers.EvalPrediction(
        predictions=np.float32([[1.7], [-0.5], [-1.2]]), label_ids=np.float32([1.0, -0.3, -1.5])
    )
    sims_out = make_compute_metrics("sims", round_digits=None)(sims_pred)
    assert sims_out["MAE"] == pytest.approx(0.2 / 3, abs=1e-6)


# --------------------------------------------------------------------------- evaluate module


@pytest.fixture(scope="session")
def _evaluate_home(tmp_path_factory):
    return tmp_path_factory.mktemp("hf_home")


@pytest.fixture
def offline_evaluate(_evaluate_home, monkeypatch):
    """evaluate with every cache under tmp and no network; one modules dir per session."""
    evaluate = pytest.importorskip("evaluate")
    import evaluate.config as evaluate_config

    home = _evaluate_home
    modules = home / "modules"
    modules.mkdir(exist_ok=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(evaluate_config, "HF_MODULES_CACHE", modules)
    monkeypatch.setattr(evaluate_config, "HF_METRICS_CACHE", home / "metrics")
    monkeypatch.setattr(evaluate_config, "HF_EVALUATE_CACHE", home / "evaluate")
    monkeypatch.setattr(evaluate_config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.syspath_prepend(str(modules))
    for name in [n for n in sys.modules if n == "evaluate_modules" or n.startswith("evaluate_modules.")]:
        monkeypatch.delitem(sys.modules, name)
    return evaluate, home


@pytest.mark.parametrize(
    ("config_name", "predictions", "references"),
    [
        ("mosi", MOSI_P, MOSI_T),
        ("mosei", [2.5, -0.5, 0.3, -2.2], [2.0, 0.0, 0.0, -1.0]),
        ("sims", [0.1, -0.1, 0.7, 0.0, 1.7, -0.45], [0.0, -0.3, 0.4, 0.05, 1.0, -0.8]),
        ("classification", [0, 1, 2, 0], [0, 2, 2, 1]),
    ],
)
def test_evaluate_module_offline(offline_evaluate, config_name, predictions, references):
    evaluate, home = offline_evaluate
    metric = evaluate.load(
        evaluate_module_path(), config_name=config_name, cache_dir=str(home / "metric_data")
    )
    got = metric.compute(predictions=predictions, references=references)
    dtype = np.int64 if config_name == "classification" else np.float32
    expected = msa_metrics(
        np.asarray(predictions, dtype=dtype), np.asarray(references, dtype=dtype), config_name
    )
    assert got == expected
    assert tuple(got) == MSA_METRIC_KEYS[config_name]
    if config_name == "sims":
        # float32 0.1 vs 0.0 and -0.1 vs -0.3 stay in the same Acc-3 bins (see float32 test)
        assert got["Mult_acc_3"] == 1.0


def test_evaluate_module_kwargs_batches_and_bad_config(offline_evaluate):
    evaluate, home = offline_evaluate
    path = evaluate_module_path()
    metric = evaluate.load(path, "mosi", cache_dir=str(home / "metric_data"))
    metric.add_batch(predictions=MOSI_P[:3], references=MOSI_T[:3])
    metric.add_batch(predictions=MOSI_P[3:], references=MOSI_T[3:])
    got = metric.compute(include_acc_3=True, round_digits=None)
    expected = msa_metrics(
        np.float32(MOSI_P), np.float32(MOSI_T), "mosi", include_acc_3=True, round_digits=None
    )
    assert got == expected
    assert "Mult_acc_3" in got
    with pytest.raises(ValueError, match="Unknown config_name 'iemocap'"):
        evaluate.load(path, "iemocap", cache_dir=str(home / "metric_data"))
