"""How well a score finds the market's high-decile writers: the figures of `model_evaluation`,
computed the same way for the model and its baselines, over out-of-fold scores. Every score
is a probability of being a deciles 8-10 writer (the model's calibrated one; a baseline's is its
group's rate of them in the training folds), so the reliability points and Brier scores of the
three compare.

Ties are never broken by row order: precision and recall at k count a tied group straddling
the k-th place by its share (the expected value of a random order), and a score decile is
where its tied group starts, as the market deciles' rule places a writer (10 = the highest
tenth of scores)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

K_SHARES = (0.01, 0.05, 0.10)  # precision and recall at the top 1, 5 and 10 % by score


def metric_row(
    metric: str,
    value: float | None,
    rows: int,
    k_share: float | None = None,
    score_decile: int | None = None,
) -> dict[str, Any]:
    """One figure of model_evaluation (model, status and note are added by the caller)."""
    return {
        "metric": metric,
        "k_share": k_share,
        "score_decile": score_decile,
        "value": None if value is None else float(value),
        "rows": int(rows),
    }


def counts(label: np.ndarray) -> list[dict[str, Any]]:
    """The prescribers, the positives and their share (null without prescribers)."""
    n, positives = len(label), int(label.sum())
    return [
        metric_row("prescribers", n, n),
        metric_row("positives", positives, n),
        metric_row("prevalence", positives / n if n else None, n),
    ]


def score_metrics(label: np.ndarray, score: np.ndarray) -> list[dict[str, Any]]:
    """ROC AUC, PR AUC (average precision), Brier score, precision and recall at each of
    K_SHARES, the lift of each score decile (its positive rate / the prevalence), and each
    score decile's reliability point (`reliability`), for 0/1 `label` and a probability
    `score` of the same rows. Both classes must be present."""
    n, positives = len(label), int(label.sum())
    found = [
        metric_row("roc_auc", roc_auc_score(label, score), n),
        metric_row("pr_auc", average_precision_score(label, score), n),
        metric_row("brier", brier_score_loss(label, score), n),
    ]
    for share in K_SHARES:
        k = math.ceil(share * n)
        hits = expected_hits(label, score, k)
        found.append(metric_row("precision_at_k", hits / k, k, k_share=share))
        found.append(metric_row("recall_at_k", hits / positives, k, k_share=share))
    deciles = score_deciles(score)
    prevalence = positives / n
    for decile in range(10, 0, -1):
        inside = deciles == decile
        if inside.any():
            rate = label[inside].mean()
            found.append(
                metric_row("lift", rate / prevalence, int(inside.sum()), score_decile=decile)
            )
    return found + reliability(label, score, deciles)


def reliability(label: np.ndarray, score: np.ndarray, deciles: np.ndarray) -> list[dict[str, Any]]:
    """The reliability diagram's points, one per score decile holding rows (10 first): its
    rows' mean score (`mean_score`, the predicted probability) and their share of positives
    (`positive_rate`, the observed one), `rows` = the decile's rows. Score deciles rather than
    equal-count bins because a baseline's scores are few tied group rates: a tied group stays
    whole in one point, as in the lift."""
    found = []
    for decile in range(10, 0, -1):
        inside = deciles == decile
        if inside.any():
            rows = int(inside.sum())
            found.append(metric_row("mean_score", score[inside].mean(), rows, score_decile=decile))
            found.append(
                metric_row("positive_rate", label[inside].mean(), rows, score_decile=decile)
            )
    return found


def expected_hits(label: np.ndarray, score: np.ndarray, k: int) -> float:
    """Positives among the k highest scores; a tied group across the k-th place counts by
    the share of it inside (so the figure depends on no row order)."""
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    kth = ranked[k - 1]
    above = ranked > kth
    tied = ranked == kth
    taken = k - int(above.sum())
    tied_hits = label[order][tied].sum()
    return float(label[order][above].sum() + tied_hits * taken / tied.sum())


def score_deciles(score: np.ndarray) -> np.ndarray:
    """Each row's score decile (1..10): 10 - floor(10 x rows with a higher score / rows),
    so tied scores share a decile and decile 10 holds the highest tenth."""
    n = len(score)
    ordered = np.sort(score)
    higher = n - np.searchsorted(ordered, score, side="right")
    return (10 - np.floor(10 * higher / n)).astype(np.int64)


def group_rate(
    train_groups: np.ndarray, train_label: np.ndarray, test_groups: np.ndarray
) -> np.ndarray:
    """A baseline's score: each test row's group's rate of positives among the training rows
    (a group the training rows lack gets their overall rate)."""
    overall = float(train_label.mean())
    names, index = np.unique(train_groups, return_inverse=True)
    rates = np.bincount(index, weights=train_label) / np.bincount(index)
    lookup = dict(zip(names.tolist(), rates.tolist(), strict=True))
    return np.array([lookup.get(group, overall) for group in test_groups.tolist()])
