"""Real data: scikit-learn's breast-cancer set, and pROC's published values on its aSAH clinical data."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import lightning_evalkit as ek
from lightning_evalkit import functional as F

# Published by pROC (tests/testthat/test-auc.R and helper-roc-expected.R), see proc-asah/EXPECTED.md.
PROC_AUC = {"wfns": 0.823678861788618, "ndka": 0.611957994579946, "s100b": 0.73136856368563685}
# Dividing by a power of two is exact, keeps every order and tie, and brings the scores into [0, 1].
SCALE = {"wfns": 8.0, "ndka": 512.0, "s100b": 4.0}


def _read_asah(reference_dir: Path) -> dict[str, np.ndarray]:
    with open(reference_dir / "proc-asah" / "aSAH.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {name: np.array([float(r[name]) for r in rows]) for name in SCALE}
    columns["poor"] = np.array([r["outcome"] == "Poor" for r in rows], dtype=np.int64)
    return columns


@pytest.mark.parametrize("predictor", sorted(PROC_AUC))
def test_asah_auc_equals_proc(reference_dir, predictor):
    data = _read_asah(reference_dir)
    scores = torch.from_numpy(data[predictor] / SCALE[predictor])
    metric = ek.AUROC(task="binary")
    metric.update(scores, torch.from_numpy(data["poor"]))
    assert metric.compute().item() == pytest.approx(PROC_AUC[predictor], abs=1e-12)


def _read_coords(reference_dir: Path, name: str) -> list[dict[str, float]]:
    with open(reference_dir / "proc-asah" / name, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_asah_s100b_sensitivity_specificity_and_counts_at_every_proc_threshold(reference_dir):
    data = _read_asah(reference_dir)
    scores, target = torch.from_numpy(data["s100b"] / 4.0), torch.from_numpy(data["poor"])
    rows = [r for r in _read_coords(reference_dir, "expected_coords_s100b.csv") if math.isfinite(r["threshold"])]
    assert len(rows) == 49
    for row in rows:
        threshold = row["threshold"] / 4.0
        sens = ek.Sensitivity(task="binary", threshold=threshold)
        spec = ek.Specificity(task="binary", threshold=threshold)
        confmat = ek.ConfusionMatrix(task="binary", threshold=threshold)
        for metric in (sens, spec, confmat):
            metric.update(scores, target)
        assert sens.compute().item() == pytest.approx(row["sensitivity"], abs=1e-12)
        assert spec.compute().item() == pytest.approx(row["specificity"], abs=1e-12)
        tn, fp, fn, tp = confmat.compute().flatten().tolist()
        # pROC derives some count columns in floating point (fn = 12.999999999999996)
        assert (tn, fp, fn, tp) == pytest.approx((row["tn"], row["fp"], row["fn"], row["tp"]), abs=1e-9)


def test_asah_s100b_youden_point_equals_proc_best(reference_dir):
    data = _read_asah(reference_dir)
    fpr, tpr, thresholds = F.roc(torch.from_numpy(data["s100b"] / 4.0), torch.from_numpy(data["poor"]), task="binary")
    threshold, sens, spec = F.youden_threshold(fpr, tpr, thresholds)
    # pROC's best threshold is the midpoint 0.205 between the data values 0.19 and 0.22; ours is the data value.
    assert threshold.item() * 4.0 == pytest.approx(0.22)
    assert sens.item() == pytest.approx(26 / 41, abs=1e-12)
    assert spec.item() == pytest.approx(58 / 72, abs=1e-12)


def _breast_cancer_scores() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000)).fit(x_train, y_train)
    return model.predict_proba(x_test)[:, 1], y_test


def test_breast_cancer_roc_auc_and_rates_equal_sklearn():
    scores, y = _breast_cancer_scores()
    preds, target = torch.from_numpy(scores), torch.from_numpy(y)
    auroc, roc = ek.AUROC(task="binary"), ek.ROC(task="binary")
    sens, spec = ek.Sensitivity(task="binary"), ek.Specificity(task="binary")
    for lo in range(0, len(y), 32):
        for metric in (auroc, roc, sens, spec):
            metric.update(preds[lo : lo + 32], target[lo : lo + 32])
    assert auroc.compute().item() == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    for ours, ref in zip(roc.compute(), skm.roc_curve(y, scores), strict=True):
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)
    predicted = (scores >= 0.5).astype(int)
    assert sens.compute().item() == pytest.approx(skm.recall_score(y, predicted), abs=1e-12)
    assert spec.compute().item() == pytest.approx(skm.recall_score(y, predicted, pos_label=0), abs=1e-12)
    binned = ek.AUROC(task="binary", thresholds=1000)
    binned.update(preds, target)
    assert abs(binned.compute().item() - skm.roc_auc_score(y, scores)) < 1e-3
