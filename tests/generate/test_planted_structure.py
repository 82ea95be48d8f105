"""The market structure the generator plants (generate/structure.py), measured on one chunk.

Each test measures its statistic on a chunk built with the planted structure and on the same
chunk built without it (UNPLANTED), and asserts the threshold separates them: the test fails
when the structure is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import pytest

from healthanalytics.analysis.drug_classes import bundled_drug_classes
from healthanalytics.generate.catalog import load_catalog
from healthanalytics.generate.npi import BASE_HIGH, BASE_LOW
from healthanalytics.generate.prescriptions import ChunkPlan, build_chunk
from healthanalytics.generate.structure import PLANTED, UNPLANTED, Planted, region_of

ROWS = 200_000
SEED = 2026
PRIMARY_CARE = ("Nurse Practitioner", "Internal Medicine", "Family Practice")  # no focus


@dataclass(frozen=True)
class Lines:
    """A chunk's lines as NumPy columns; `prescriber` numbers prescribers 0..n-1."""

    prescriber: np.ndarray
    specialty: np.ndarray
    region: np.ndarray
    area: np.ndarray
    epc: np.ndarray
    brand: np.ndarray  # the analysis' rule: brand name differs from generic name
    claims: np.ndarray  # blank (suppressed) claims as 0

    @property
    def prescribers(self) -> int:
        return int(self.prescriber.max()) + 1

    def per_prescriber(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.prescriber, values, self.prescribers)

    def of_prescriber(self, values: np.ndarray) -> np.ndarray:
        """A per-line value of each prescriber's (first) line: specialty, region."""
        first = np.unique(self.prescriber, return_index=True)[1]
        return values[first]


def build_lines(planted: Planted) -> Lines:
    plan = ChunkPlan(0, ROWS, BASE_LOW, BASE_HIGH, 0, 0, 0)  # clean: no dirty rows
    table = build_chunk(plan, SEED, "cms", load_catalog(planted)).table
    classes = {row.generic_name: row for row in bundled_drug_classes()}
    generic = table["Gnrc_Name"].to_pylist()
    state = np.array(table["Prscrbr_State_Abrvtn"].to_pylist())
    regions = {code: region_of(code) or "" for code in set(state)}
    return Lines(
        prescriber=np.unique(table["Prscrbr_NPI"].to_numpy(), return_inverse=True)[1],
        specialty=np.array(table["Prscrbr_Type"].to_pylist()),
        region=np.array([regions[code] for code in state]),
        area=np.array([classes[g].therapeutic_area if g in classes else "" for g in generic]),
        epc=np.array([classes[g].epc if g in classes else "" for g in generic]),
        brand=pc.not_equal(table["Brnd_Name"], table["Gnrc_Name"]).to_numpy(),
        claims=pc.fill_null(table["Tot_Clms"], 0).to_numpy().astype(np.float64),
    )


@pytest.fixture(scope="module")
def planted() -> Lines:
    return build_lines(PLANTED)


@pytest.fixture(scope="module")
def unplanted() -> Lines:
    return build_lines(UNPLANTED)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation, ties given their average rank."""

    def ranks(values: np.ndarray) -> np.ndarray:
        order = np.empty(len(values))
        order[np.argsort(values, kind="stable")] = np.arange(len(values))
        _, group = np.unique(values, return_inverse=True)
        return (np.bincount(group, order) / np.bincount(group))[group]

    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def focus_ratio(lines: Lines, specialty: str, area: str) -> float:
    """The specialty's share of the area's claims over its share of all claims."""
    mine = lines.specialty == specialty
    inside = lines.area == area
    area_share = lines.claims[mine & inside].sum() / lines.claims[inside].sum()
    return float(area_share / (lines.claims[mine].sum() / lines.claims.sum()))


def top_decile_share(lines: Lines) -> float:
    """The share of all claims held by the 10 % of prescribers with the most claims."""
    claims = np.sort(lines.per_prescriber(lines.claims))[::-1]
    return float(claims[: len(claims) // 10].sum() / claims.sum())


def market_vs_rest(lines: Lines) -> tuple[float, float]:
    """Among statin writers of primary care: Spearman of statin claims against claims, and
    against distinct drugs, outside the statins."""
    market = lines.epc == "HMG-CoA Reductase Inhibitor"
    inside = lines.per_prescriber(np.where(market, lines.claims, 0.0))
    outside = lines.per_prescriber(np.where(market, 0.0, lines.claims))
    breadth = lines.per_prescriber((~market).astype(np.float64))
    keep = (inside > 0) & np.isin(lines.of_prescriber(lines.specialty), PRIMARY_CARE)
    return spearman(inside[keep], outside[keep]), spearman(inside[keep], breadth[keep])


def breadth_vs_claims_per_line(lines: Lines) -> float:
    """Within primary care: Spearman of a prescriber's distinct drugs against its claims per
    line (independent draws but for the shared propensity)."""
    count = lines.per_prescriber(np.ones(len(lines.claims)))
    per_line = lines.per_prescriber(lines.claims) / count
    keep = np.isin(lines.of_prescriber(lines.specialty), PRIMARY_CARE) & (count >= 3)
    return spearman(count[keep], per_line[keep])


def brand_share_z(lines: Lines, high: str, low: str) -> tuple[float, float]:
    """The brand share of claims in region `high` less that in `low`, and that difference over
    its standard error, taken from 20 groups of each region's prescribers (by prescriber
    number) so that one prescriber's lines count together."""
    differences, errors = [], []
    for region in (high, low):
        lines_in = lines.region == region
        group = lines.prescriber[lines_in] % 20
        brand = np.bincount(group, np.where(lines.brand, lines.claims, 0.0)[lines_in], 20)
        share = brand / np.bincount(group, lines.claims[lines_in], 20)
        differences.append(share.mean())
        errors.append(share.std(ddof=1) / np.sqrt(20))
    difference = differences[0] - differences[1]
    return difference, difference / float(np.hypot(*errors))


def brand_consistency(lines: Lines) -> float:
    """Within primary care and one region: Spearman of a prescriber's brand share of claims in
    one half of the drug list (cardiovascular and diabetes) against the other half."""
    half = np.isin(lines.area, ("cardiovascular", "diabetes"))
    shares = []
    for side in (half, ~half):
        brand = lines.per_prescriber(np.where(side & lines.brand, lines.claims, 0.0))
        shares.append(brand / np.maximum(lines.per_prescriber(np.where(side, lines.claims, 0)), 1))
    lines_each = [lines.per_prescriber(side.astype(np.float64)) for side in (half, ~half)]
    keep = (
        np.isin(lines.of_prescriber(lines.specialty), PRIMARY_CARE)
        & (lines.of_prescriber(lines.region) == "South")
        & (np.minimum(*lines_each) >= 10)
    )
    return spearman(shares[0][keep], shares[1][keep])


@pytest.mark.parametrize(
    ("specialty", "area"),
    [
        ("Cardiology", "cardiovascular"),
        ("Dermatology", "dermatology"),
        ("Psychiatry", "psychiatry"),
        ("Endocrinology", "diabetes"),
    ],
)
def test_specialists_write_mostly_in_their_areas(planted, unplanted, specialty, area):
    # several times the specialty's share of all claims; without focus, about its share
    assert focus_ratio(planted, specialty, area) > 2.0 > focus_ratio(unplanted, specialty, area)


def test_specialists_write_little_outside_their_areas(planted, unplanted):
    # dermatologists hold far less than their share of the cardiovascular claims
    ratio = focus_ratio(planted, "Dermatology", "cardiovascular")
    assert ratio < 0.5 < focus_ratio(unplanted, "Dermatology", "cardiovascular")


def test_claims_per_prescriber_are_heavy_tailed(planted, unplanted):
    # the top 10 % of prescribers hold more than half the claims
    assert top_decile_share(planted) > 0.5 > top_decile_share(unplanted)


def test_volume_in_the_market_goes_with_volume_and_breadth_outside_it(planted, unplanted):
    volume, breadth = market_vs_rest(planted)
    flat_volume, flat_breadth = market_vs_rest(unplanted)
    assert volume > 0.5 > flat_volume
    assert breadth > 0.4 > flat_breadth


def test_breadth_and_claims_per_line_share_a_propensity(planted, unplanted):
    assert breadth_vs_claims_per_line(planted) > 0.25 > abs(breadth_vs_claims_per_line(unplanted))


@pytest.mark.parametrize(("high", "low"), [("Northeast", "South"), ("West", "Midwest")])
def test_brand_share_differs_between_regions_beyond_noise(planted, unplanted, high, low):
    difference, z = brand_share_z(planted, high, low)
    assert difference > 0.02 and z > 3.0
    _, flat_z = brand_share_z(unplanted, high, low)
    assert abs(flat_z) < 3.0


def test_brand_uptake_is_a_prescriber_habit(planted, unplanted):
    # in one region and specialty group, brand share in one half of the list predicts the other
    assert brand_consistency(planted) > 0.2 > abs(brand_consistency(unplanted))
