"""The lookalike model: scikit-learn on the driver over one row per prescriber
(`features.model_inputs`), scoring every prescriber's likelihood of being a deciles 8-10
writer of the market from features holding no market volume.

- Model: one Pipeline (ColumnTransformer -> LogisticRegression), calibrated by Platt's
  sigmoid on 3-fold out-of-sample scores inside each training fold (CalibratedClassifierCV,
  ensemble=False). Categoricals one-hot (categories of fewer than MIN_CATEGORY_ROWS training
  rows pooled as infrequent, unknown ones taken as that pool); counts log1p then
  standardised; the brand share and experience imputed by the median with a missing
  indicator, standardised. A linear model because its reasons are exact (coefficient x the
  value's distance from the training mean, per input), it fits sparse one-hot designs in
  bounded memory at a million prescribers, and its fit is convex, so deterministic.
- Validation: StratifiedGroupKFold by state (FOLDS folds, fixed SEED): no state is in both
  the training and the test rows of a fold, and every prescriber gets the probability of the
  model that did not see its state. A fold is fitted on at most MAX_TRAIN_ROWS of its rows
  (a fixed-seed sample), so time and memory stay bounded.
- Baselines scored the same way (fitted in the training folds): the specialty's rate of
  deciles 8-10, and the rate of the prescriber's all-drug volume decile.
- Permutation importance on a fixed-seed sample of held-out rows (`shuffled_drops`).
- Degenerate inputs (too few prescribers or positives, one state) give a skip reason, never
  an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from healthanalytics.analysis.targets.evaluation import counts, group_rate, score_metrics
from healthanalytics.analysis.targets.reasons import reasons_text
from healthanalytics.contracts.targets import MODEL_EVALUATION, MODEL_IMPORTANCE, TARGET_PRESCRIBERS

SEED = 15  # every random choice (folds, samples, shuffles) is seeded: same input, same output
FOLDS = 5
MIN_PRESCRIBERS = 100
MIN_POSITIVES = 20  # of each class: fewer gives no stable fold or AUC
MIN_CATEGORY_ROWS = 20  # rarer specialties, states and segments are pooled as infrequent
MAX_TRAIN_ROWS = 200_000
IMPORTANCE_ROWS = 20_000
IMPORTANCE_REPEATS = 5
POTENTIAL_LIFT = 2.0  # high potential: at least twice the prevalence
TIER_1_LIFT = 4.0
BLANK = "(blank)"
DECIMALS = 6  # of the fractional inputs

CATEGORICAL = ("specialty", "presc_state", "city_segment")
COUNTS = ("other_fills", "other_claims", "other_generics", "other_beneficiaries")
IMPUTED = ("other_brand_share", "years_of_exp")  # the median, with a missing indicator


@dataclass(frozen=True)
class Targets:
    """The model's three tables as Arrow (the contracts' columns, delivery_date aside), and
    the skip reason when it did not run."""

    prescribers: pa.Table
    evaluation: pa.Table
    importance: pa.Table
    skipped: str | None = None

    def summary(self) -> str:
        if self.skipped is not None:
            return f"lookalike model skipped: {self.skipped}"
        rows = self.evaluation.to_pylist()
        auc = {r["model"]: r["value"] for r in rows if r["metric"] == "roc_auc"}
        status = next(r["status"] for r in rows if r["model"] == "lookalike")
        return (
            f"lookalike model ROC AUC {auc['lookalike']:.3f} (baselines: specialty rate "
            f"{auc['specialty_rate']:.3f}, volume decile {auc['volume_decile']:.3f}): {status}"
        )


def score_prescribers(inputs: pa.Table, seed: int = SEED) -> Targets:
    """The model's tables from `features.model_inputs` (one row per prescriber; the row order
    does not matter). See the module for the method."""
    frame = inputs.to_pandas().sort_values("presc_id", kind="stable").reset_index(drop=True)
    # sums in another order (another engine) differ in the last bits: rounded, every engine
    # gives the model the same numbers, so the same fit
    for column in ("other_fills", "other_brand_share"):
        frame[column] = frame[column].round(DECIMALS)
    label = frame["label"].to_numpy(dtype=np.int64)
    states = frame["presc_state"].fillna(BLANK).to_numpy(dtype=object)
    reason = degenerate(label, states)
    if reason is not None:
        return _skipped(label, reason)
    columns = [c for c in (*CATEGORICAL, *COUNTS, *IMPUTED) if frame[c].notna().any()]
    design = _design(frame, columns)
    folds = state_folds(label, states, seed)
    for train, _ in folds:
        held = label[train]
        if min(int(held.sum()), int(len(held) - held.sum())) < 3:
            return _skipped(label, "a training fold holds fewer than 3 prescribers of a class")
    rng = np.random.default_rng(seed)
    n = len(frame)
    probability = np.empty(n)
    contributions = np.zeros((n, len(columns)))
    specialty_rate, volume_rate = np.empty(n), np.empty(n)
    specialty = frame["specialty"].fillna(BLANK).to_numpy(dtype=object)
    overall = frame["overall_decile"].to_numpy(dtype=np.int64)
    shuffles: list[np.ndarray] = []
    sampled = 0
    for train, test in folds:
        fit = _sample(train, MAX_TRAIN_ROWS, rng)
        model = calibrated(columns, seed).fit(design.iloc[fit], label[fit])
        probability[test] = model.predict_proba(design.iloc[test])[:, 1]
        contributions[test] = _contributions(model, design.iloc[fit], design.iloc[test], columns)
        specialty_rate[test] = group_rate(specialty[train], label[train], specialty[test])
        volume_rate[test] = group_rate(overall[train], label[train], overall[test])
        shown = _sample(test, IMPORTANCE_ROWS // len(folds), rng)
        if 0 < label[shown].sum() < len(shown):
            shuffles.append(shuffled_drops(contributions[shown], label[shown], rng))
            sampled += len(shown)
    evaluation = _evaluation(label, probability, specialty_rate, volume_rate, len(folds))
    prevalence = float(label.mean())
    reasons = reasons_text(frame, columns, contributions)
    targets = _target_rows(frame, probability, prevalence, reasons)
    return Targets(targets, evaluation, _importance(columns, shuffles, sampled))


def state_folds(
    label: np.ndarray, states: np.ndarray, seed: int = SEED
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (training rows, test rows) of each fold: StratifiedGroupKFold over the states
    (FOLDS folds, fewer when there are fewer states), so that no state is on both sides of a
    fold and every row is tested once."""
    splitter = StratifiedGroupKFold(
        n_splits=min(FOLDS, len(set(states.tolist()))), shuffle=True, random_state=seed
    )
    return list(splitter.split(np.zeros((len(label), 1)), label, states))


def degenerate(label: np.ndarray, states: np.ndarray) -> str | None:
    """Why the model cannot be validated on these prescribers, or None."""
    n, positives = len(label), int(label.sum())
    if n < MIN_PRESCRIBERS:
        return f"{n} prescribers: at least {MIN_PRESCRIBERS} are needed to validate a model"
    if positives == 0:
        return "no prescriber in deciles 8-10: the market has no volume to learn"
    if min(positives, n - positives) < MIN_POSITIVES:
        return (
            f"{positives} of {n} prescribers in deciles 8-10: at least {MIN_POSITIVES} in "
            "and out of them are needed"
        )
    if len(set(states.tolist())) < 2:
        return f"one state only ({states[0]}): cross-validation grouped by state needs two"
    return None


def calibrated(columns: list[str], seed: int = SEED) -> CalibratedClassifierCV:
    """The model: the preprocessing and logistic regression in one Pipeline, calibrated by a
    sigmoid on 3-fold out-of-sample scores of its training rows."""
    categorical = [c for c in columns if c in CATEGORICAL]
    numbers = [c for c in columns if c in COUNTS]
    imputed = [c for c in columns if c in IMPUTED]
    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_ROWS)
    log1p = FunctionTransformer(np.log1p, feature_names_out="one-to-one")
    imputer = SimpleImputer(strategy="median", add_indicator=True)
    # three transformers, not one per input: each call of one costs time at any row count
    steps = [
        ("categorical", encoder, categorical),
        ("counts", make_pipeline(log1p, StandardScaler()), numbers),
        ("imputed", make_pipeline(imputer, StandardScaler()), imputed),
    ]
    steps = [step for step in steps if step[2]]
    pipeline = Pipeline(
        [
            ("features", ColumnTransformer(steps, sparse_threshold=1.0)),
            ("model", LogisticRegression(C=1.0, max_iter=1000)),
        ]
    )
    return CalibratedClassifierCV(pipeline, method="sigmoid", cv=3, ensemble=False)


def _design(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The model's input columns: a category as the integer code of its value among the
    column's values sorted (a blank one a value of its own: the encoder counts integers
    far faster than text, and still learns its categories from the training rows only);
    counts as floats; imputed columns with NaN for null."""
    design = {}
    for column in columns:
        if column in CATEGORICAL:
            codes, _ = pd.factorize(frame[column].fillna(BLANK), sort=True)
            design[column] = codes.astype(np.int64)
        else:
            design[column] = frame[column].astype("float64")
    return pd.DataFrame(design)


def _sample(rows: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    if len(rows) <= most:
        return rows
    return np.sort(rng.choice(rows, size=most, replace=False))


def _contributions(
    model: CalibratedClassifierCV, train: pd.DataFrame, test: pd.DataFrame, columns: list[str]
) -> np.ndarray:
    """Per test row and input: its push on the log-odds, coefficient x (its transformed value
    - the training rows' mean), summed over the input's transformed columns."""
    pipeline = model.calibrated_classifiers_[0].estimator
    transform, regression = pipeline.named_steps["features"], pipeline.named_steps["model"]
    names = transform.get_feature_names_out()
    owner = np.array([_owner(name, columns) for name in names])
    weights = sparse.csr_matrix(
        (regression.coef_[0], (np.arange(len(names)), owner)), shape=(len(names), len(columns))
    )
    mean = np.asarray(sparse.csr_matrix(transform.transform(train)).mean(axis=0))
    held = sparse.csr_matrix(transform.transform(test))
    return np.asarray((held @ weights).todense()) - np.asarray(mean @ weights)


def _owner(name: str, columns: list[str]) -> int:
    """The input a transformed column comes from (`categorical__specialty_Cardiology`,
    `imputed__missingindicator_years_of_exp` -> specialty, years_of_exp)."""
    name = name.split("__", 1)[1].removeprefix("missingindicator_")
    found = [i for i, c in enumerate(columns) if name == c or name.startswith(c + "_")]
    return max(found, key=lambda i: len(columns[i]))


def _evaluation(
    label: np.ndarray,
    probability: np.ndarray,
    specialty_rate: np.ndarray,
    volume_rate: np.ndarray,
    folds: int,
) -> pa.Table:
    scored = {
        "lookalike": score_metrics(label, probability),
        "specialty_rate": score_metrics(label, specialty_rate),
        "volume_decile": score_metrics(label, volume_rate),
    }
    auc = {model: next(r["value"] for r in rows if r["metric"] == "roc_auc")
           for model, rows in scored.items()}  # fmt: skip
    beats = auc["lookalike"] > max(auc["specialty_rate"], auc["volume_decile"])
    comparison = (
        f"ROC AUC {auc['lookalike']:.3f} against {auc['specialty_rate']:.3f} (specialty rate) "
        f"and {auc['volume_decile']:.3f} (volume decile), out of {folds} folds grouped by state"
    )
    notes = {
        "lookalike": comparison if beats else f"does not beat a baseline: {comparison}",
        "specialty_rate": "the specialty's rate of deciles 8-10 in the training folds",
        "volume_decile": "the rate of the all-drug volume decile in the training folds",
    }
    rows = []
    for model, figures in scored.items():
        status = "baseline" if model != "lookalike" else ("shown" if beats else "below_baseline")
        for row in [*counts(label), *figures]:
            rows.append({"model": model, **row, "status": status, "note": notes[model]})
    return _arrow(rows, MODEL_EVALUATION)


def skipped_targets(inputs: pa.Table, reason: str) -> Targets:
    """The tables of a model that did not run on `inputs` (`features.model_inputs`): the
    lookalike's counts with status skipped and the reason, no scored prescriber."""
    return _skipped(np.array(inputs.column("label").to_pylist(), dtype=np.int64), reason)


def _skipped(label: np.ndarray, reason: str) -> Targets:
    rows = [
        {"model": "lookalike", **row, "value": row["value"], "status": "skipped", "note": reason}
        for row in counts(label)
    ]
    return Targets(
        _arrow([], TARGET_PRESCRIBERS),
        _arrow(rows, MODEL_EVALUATION),
        _arrow([], MODEL_IMPORTANCE),
        skipped=reason,
    )


def _target_rows(
    frame: pd.DataFrame, probability: np.ndarray, prevalence: float, reasons: list[str | None]
) -> pa.Table:
    high_potential = probability >= POTENTIAL_LIFT * prevalence
    high_adoption = frame["label"].to_numpy() == 1
    segment = np.select(
        [high_potential & ~high_adoption, high_potential & high_adoption, high_adoption],
        ["grow", "defend", "maintain"],
        "monitor",
    )
    tier = np.where(
        probability >= TIER_1_LIFT * prevalence, 1, np.where(high_potential | high_adoption, 2, 3)
    )
    table = pd.DataFrame(
        {
            "presc_id": frame["presc_id"],
            "specialty": frame["specialty"],
            "presc_state": frame["presc_state"],
            "decile": frame["decile"],
            "specialty_decile": frame["specialty_decile"],
            "probability": np.clip(probability, 0.0, 1.0),
            "potential": np.where(high_potential, "high", "low"),
            "adoption": np.where(high_adoption, "high", "low"),
            "segment": segment,
            "priority_tier": tier,
            "reasons": reasons,
        }
    )
    return pa.Table.from_pandas(table, schema=_schema(TARGET_PRESCRIBERS), preserve_index=False)


def shuffled_drops(
    contributions: np.ndarray, label: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Permutation importance of each input (rows) for each of IMPORTANCE_REPEATS shuffles
    (columns): the drop of ROC AUC when the input's values are shuffled among the rows.

    The model's log-odds are the sum of the inputs' contributions (plus a constant), and its
    transform works row by row, so shuffling an input is shuffling its contribution; the
    calibration is an increasing function of the log-odds, so the AUC is the probabilities'."""
    score = contributions.sum(axis=1)
    base = roc_auc_score(label, score)
    drops = np.empty((contributions.shape[1], IMPORTANCE_REPEATS))
    for column in range(contributions.shape[1]):
        part = contributions[:, column]
        for repeat in range(IMPORTANCE_REPEATS):
            shuffled = score - part + part[rng.permutation(len(part))]
            drops[column, repeat] = base - roc_auc_score(label, shuffled)
    return drops


def _importance(columns: list[str], shuffles: list[np.ndarray], rows: int) -> pa.Table:
    if not shuffles:
        return _arrow([], MODEL_IMPORTANCE)
    drops = np.concatenate(shuffles, axis=1)  # inputs x (folds x repeats)
    mean, std = drops.mean(axis=1), drops.std(axis=1)
    order = sorted(range(len(columns)), key=lambda i: (-mean[i], columns[i]))
    found = [
        {"feature": columns[i], "importance": float(mean[i]), "importance_std": float(std[i]),
         "rank": rank, "rows": rows}
        for rank, i in enumerate(order, start=1)
    ]  # fmt: skip
    return _arrow(found, MODEL_IMPORTANCE)


def _schema(contract: Any) -> pa.Schema:
    return pa.schema([field for field in contract.schema if field.name in contract.computed_names])


def _arrow(rows: list[dict[str, Any]], contract: Any) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=_schema(contract))
