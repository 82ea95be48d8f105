"""Contracts of the lookalike model's tables: the prescribers scored, the model's evaluation
beside its two baselines, and its permutation importance (docs/RULES.md, The launch analysis,
"Lookalike targeting"; issue 15 item 8)."""

from __future__ import annotations

from healthanalytics.contracts.columns import decile
from healthanalytics.contracts.model import Accepted, Column, Range, TableContract
from healthanalytics.contracts.reports import DELIVERY, FLOAT, INT, TEXT

MODELS = ("lookalike", "specialty_rate", "volume_decile")
METRICS = (
    "prescribers",
    "positives",
    "prevalence",
    "roc_auc",
    "pr_auc",
    "brier",
    "precision_at_k",
    "recall_at_k",
    "lift",
    "mean_score",
    "positive_rate",
)
STATUSES = ("shown", "below_baseline", "baseline", "skipped")
SEGMENTS = ("grow", "defend", "maintain", "monitor")
LEVELS = ("high", "low")
FEATURES = (
    "specialty",
    "presc_state",
    "city_segment",
    "other_fills",
    "other_claims",
    "other_generics",
    "other_brand_share",
    "other_beneficiaries",
    "years_of_exp",
)


TARGET_PRESCRIBERS = TableContract(
    name="target_prescribers",
    description=(
        "One row per prescriber of the delivery when the lookalike model ran: its "
        "out-of-fold likelihood of being a deciles 8-10 writer of the market from features "
        "holding no market volume, and where it stands."
    ),
    columns=(
        Column("presc_id", INT, "the prescriber's NPI as an integer", unit="identifier",
               not_null=True, range=Range(0, 9_999_999_999)),
        Column("specialty", TEXT, "as in market_prescribers"),
        Column("presc_state", TEXT, "as in market_prescribers"),
        decile("decile", "its market decile (market_prescribers)"),
        decile("specialty_decile", "its decile within its specialty (market_prescribers)"),
        Column("probability", FLOAT, "calibrated probability of deciles 8-10, scored by the "
               "model of the fold that held its state out", unit="probability 0..1",
               not_null=True, range=Range(0, 1)),
        Column("potential", TEXT, "high: probability at least twice the share of prescribers "
               "in deciles 8-10", not_null=True, accepted=Accepted(LEVELS)),
        Column("adoption", TEXT, "high: decile 8-10 now", not_null=True,
               accepted=Accepted(LEVELS)),
        Column("segment", TEXT, "potential x adoption: grow (high, low: the lookalikes), "
               "defend (high, high), maintain (low, high), monitor (low, low)", not_null=True,
               accepted=Accepted(SEGMENTS)),
        Column("priority_tier", INT, "1: probability at least 4x the share in deciles 8-10; "
               "2: other high potential or decile 8-10 now; 3: the rest", unit="tier",
               not_null=True, range=Range(1, 3)),
        Column("reasons", TEXT, "the features raising its score most (at most 3), in words; "
               "null when none raises it above the average prescriber's"),
        DELIVERY,
    ),
    key=("presc_id",),
)  # fmt: skip

MODEL_EVALUATION = TableContract(
    name="model_evaluation",
    description=(
        "One row per model and metric: the lookalike model and its two baselines, every "
        "figure over the out-of-fold scores of cross-validation grouped by state."
    ),
    columns=(
        Column("model", TEXT, "lookalike (the model), specialty_rate (baseline: the "
               "specialty's rate of deciles 8-10 in the training folds), volume_decile "
               "(baseline: the rate of the prescriber's all-drug volume decile in the "
               "training folds)", not_null=True, accepted=Accepted(MODELS)),
        Column("metric", TEXT, "prescribers, positives (in deciles 8-10), prevalence, "
               "roc_auc, pr_auc, brier, precision_at_k, recall_at_k, lift; and per score "
               "decile the reliability diagram's point: mean_score (the mean out-of-fold "
               "score, a probability of deciles 8-10) and positive_rate (the share in deciles "
               "8-10)", not_null=True, accepted=Accepted(METRICS)),
        Column("k_share", FLOAT, "precision/recall at k: the top share of prescribers by "
               "score (0.01, 0.05, 0.10); else null", unit="share 0..1", range=Range(0, 1)),
        Column("score_decile", INT, "lift, mean_score, positive_rate: the score decile (10 = "
               "the highest tenth of scores; tied scores share one); else null", unit="decile",
               range=Range(1, 10)),
        Column("value", FLOAT, "the figure: a count (prescribers, positives), a share or "
               "probability 0..1, an AUC, a Brier score, or a lift (positive rate / "
               "prevalence); null when skipped", unit="as the metric"),
        Column("rows", INT, "prescribers the figure is computed over", unit="prescribers",
               not_null=True, range=Range(0)),
        Column("status", TEXT, "shown (the model beats both baselines' ROC AUC), "
               "below_baseline, baseline, or skipped", not_null=True,
               accepted=Accepted(STATUSES)),
        Column("note", TEXT, "why the model was skipped, or how it compares"),
        DELIVERY,
    ),
    key=("model", "metric", "k_share", "score_decile"),
    grain="figure",
)  # fmt: skip

MODEL_IMPORTANCE = TableContract(
    name="model_importance",
    description=(
        "One row per input of the lookalike model: its permutation importance on a "
        "fixed-seed sample of held-out prescribers."
    ),
    columns=(
        Column("feature", TEXT, "the input (a column of the features)", not_null=True,
               accepted=Accepted(FEATURES)),
        Column("importance", FLOAT, "mean drop of ROC AUC when the input is shuffled",
               unit="ROC AUC", not_null=True),
        Column("importance_std", FLOAT, "its standard deviation over the shuffles",
               unit="ROC AUC", not_null=True, range=Range(0)),
        Column("rank", INT, "1 = the most important", unit="rank", not_null=True,
               range=Range(1)),
        Column("rows", INT, "held-out prescribers in the sample", unit="prescribers",
               not_null=True, range=Range(1)),
        DELIVERY,
    ),
    key=("feature",),
)  # fmt: skip

TARGET_TABLES = (TARGET_PRESCRIBERS, MODEL_EVALUATION, MODEL_IMPORTANCE)
