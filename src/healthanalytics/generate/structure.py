"""The market structure the generator plants, so the launch analysis has something true to find.

Three kinds, each a setting of `Planted` (the generator uses `PLANTED`; `UNPLANTED` removes all
three, which the tests use to show their statistics can tell the difference):

- **Specialty focus.** Each specialty draws its drugs with the boosts of its `focus` column in
  `data/specialties.csv` (`cardio:14 lipid:12 anticoag:14`: cardiologists pick those categories
  of `data/drugs.csv` 12-14 times as often as the list's weights say, every other category
  `other` = 0.04 times as often); a line of a focus category also gets `focus_claims` (1.5) times
  the claims. So Cardiology holds several times its share of all claims among cardiovascular
  claims (the drug-class map's `therapeutic_area`), Dermatology a fraction of it.
- **Prescriber volume skew.** Each prescriber has one propensity z ~ N(0, 1). Its number of
  distinct drugs (breadth) is its specialty's typical count times a lognormal factor (mean 1,
  sigma `rows_sigma` = 1.0), and its claims per line are scaled by another (mean 1, sigma
  `volume_sigma` = 0.7); both load z with weight `propensity` (0.7). So breadth and claims per
  line go together (Spearman about 0.4 within primary care; 0 without the propensity), and
  a prescriber who writes much of one class writes much of the others (statin claims against
  claims outside them, in primary care: about 0.7). Claims per prescriber are heavy-tailed:
  the top 10 % of prescribers hold about 57 % of the claims.
- **Brand uptake by region.** Drugs whose brand name differs from the generic name (the
  analysis' `brand` rule) have their weights multiplied, per prescriber, by exp(b): b is the
  region's shift (`brand_shift`, per Census region: Northeast +0.45, West +0.15, Midwest -0.15,
  South -0.35; Puerto Rico 0) plus the prescriber's own N(0, `brand_spread` = 0.4), rounded to
  a step of 0.3 and kept within +-1.2. So the brand share of claims is about 0.38 in the
  Northeast, 0.33 in the West, 0.29 in the Midwest and 0.27 in the South, and a prescriber's
  brand share in one part of the list predicts it in the rest.

The settings are planted, not estimates from CMS data; the shares quoted were measured on
generated chunks (tests/generate/test_planted_structure.py checks each kind). Regions: the
U.S. Census Bureau's four census regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CENSUS_REGIONS: dict[str, tuple[str, ...]] = {
    "Northeast": ("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"),
    "Midwest": ("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"),
    "South": ("DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV", "AL", "KY", "MS", "TN",
              "AR", "LA", "OK", "TX"),
    "West": ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"),
}  # fmt: skip

# A prescriber's brand multiplier is exp(step * k) for k in -LEVELS..LEVELS: a few discrete
# levels let the catalog hold one alias table per (specialty, level) for whole-array draws.
BRAND_STEP = 0.3
BRAND_LEVELS = 4


def region_of(state: str) -> str | None:
    """The Census region of a two-letter state code; None for territories (PR)."""
    for region, states in CENSUS_REGIONS.items():
        if state in states:
            return region
    return None


@dataclass(frozen=True)
class Planted:
    """The settings of the planted structure (see the module docstring)."""

    focus: bool = True  # apply the specialties' `focus` boosts
    focus_claims: float = 1.5  # claims multiplier of a line in its specialty's focus
    rows_sigma: float = 1.0  # lognormal sigma of distinct drugs per prescriber
    volume_sigma: float = 0.7  # lognormal sigma of a prescriber's claims per line
    propensity: float = 0.7  # loading of both lognormals on the prescriber's shared z
    brand_shift: tuple[tuple[str, float], ...] = (
        ("Northeast", 0.45),
        ("West", 0.15),
        ("Midwest", -0.15),
        ("South", -0.35),
    )
    brand_spread: float = 0.4  # sigma of a prescriber's own brand log-multiplier

    def state_brand_shift(self, states: list[str]) -> np.ndarray:
        """The brand log-multiplier shift of each state code in `states` (0 outside a region)."""
        shifts = dict(self.brand_shift)
        return np.array([shifts.get(region_of(code) or "", 0.0) for code in states])


PLANTED = Planted()
UNPLANTED = Planted(
    focus=False,
    focus_claims=1.0,
    rows_sigma=0.0,
    volume_sigma=0.0,
    propensity=0.0,
    brand_shift=(),
    brand_spread=0.0,
)
