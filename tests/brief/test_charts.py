"""Each chart rendered from a tiny table: a real PNG, and the takeaway the table implies."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from PIL import Image

from healthanalytics.brief import charts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(chart: charts.Chart) -> None:
    assert chart.png.startswith(PNG_SIGNATURE)
    assert len(chart.png) > 5_000  # drawn, not an empty canvas
    width, height = Image.open(io.BytesIO(chart.png)).size
    assert width > 300 and height > 150
    assert chart.title and chart.takeaway in chart.alt


def test_product_shares_names_the_leader():
    products = pd.DataFrame(
        {
            "brand_name": ["LIPITOR", "ATORVASTATIN", "ZOCOR"],
            "generic_name": ["ATORVASTATIN", "ATORVASTATIN", "SIMVASTATIN"],
            "product_type": ["brand", "generic", "brand"],
            # a null share (a market without fills) is drawn as 0
            "fills_share": [0.25, 0.6, None],
        }
    )
    chart = charts.product_shares_chart(products)
    assert_png(chart)
    assert chart.takeaway == "ATORVASTATIN leads with 60.0% of fills among 3 products"


def test_a_dollar_sign_in_a_name_is_drawn_as_written():
    # matplotlib reads text between two `$` as a formula: this one it cannot draw
    names = ["MEVACOR $\\undefinedcmd$", "ZOCOR $5$ OFF"]
    products = pd.DataFrame(
        {
            "brand_name": names,
            "generic_name": ["LOVASTATIN", "SIMVASTATIN"],
            "product_type": ["brand", "brand"],
            "fills_share": [0.7, 0.3],
        }
    )
    chart = charts.product_shares_chart(products)
    assert_png(chart)
    assert chart.takeaway.startswith("MEVACOR $\\undefinedcmd$ (LOVASTATIN) leads with 70.0%")


def test_product_shares_of_one_product_in_the_singular():
    products = pd.DataFrame({"brand_name": ["A"], "generic_name": ["A"],
                             "product_type": ["generic"], "fills_share": [1.0]})  # fmt: skip
    chart = charts.product_shares_chart(products)
    assert chart.takeaway == "A leads with 100.0% of fills among 1 product"
    assert chart.alt.startswith("Horizontal bar chart of the shares of fills of 1 product; ")


@pytest.mark.parametrize(
    ("value", "noun", "text"),
    [
        (1, "generic name", "1 generic name"),  # one: singular
        (0, "brand", "0 brands"),  # none: plural
        (2500, "product", "2,500 products"),  # grouped as the figures
    ],
)
def test_counted_says_one_in_the_singular(value, noun, text):
    assert charts.counted(value, noun) == text


def test_counted_takes_an_irregular_plural():
    assert [charts.counted(n, "city", "cities") for n in (1, 3)] == ["1 city", "3 cities"]


def test_product_shares_sums_the_tail_as_other():
    products = pd.DataFrame({"brand_name": list("ABCD"), "generic_name": list("ABCD"),
                             "product_type": ["generic"] * 4, "fills_share": [.4, .3, .2, .1]})
    chart = charts.product_shares_chart(products, top=2)
    assert chart.takeaway == "A leads with 40.0% of fills among 4 products"


def test_concentration_top_decile_and_hhi():
    # ten writers, one of them half the market; zero-fill prescribers are not writers
    fills = [50.0] + [50 / 9] * 9 + [0.0, 0.0]
    chart = charts.concentration_chart(fills, 3600.0)
    assert_png(chart)
    assert chart.takeaway == "The top 10% of 10 writers write 50.0% of fills; product HHI 3,600"


def test_lorenz_curve_runs_from_zero_to_one():
    writers, volume = charts.writer_shares([1.0, 3.0, 0.0])
    assert writers.tolist() == [0.0, 0.5, 1.0]
    assert volume.tolist() == [0.0, 0.25, 1.0]
    # no fills at all: the equal-shares line, no division by zero
    assert charts.writer_shares([0.0])[1].tolist() == [0.0]


def test_top_share_rounds_writers_up():
    assert charts.top_share([4.0, 3.0, 2.0, 1.0], 0.10) == pytest.approx(0.4)
    assert charts.top_share([], 0.10) == 0.0


def test_decile_chart_sums_deciles_8_to_10():
    deciles = pd.DataFrame(
        {
            "decile": [10, 9, 8, 1, 0],  # decile 0 (no fills) is not drawn
            "prescribers": [1, 2, 3, 40, 100],
            "fills_share": [0.3, 0.25, 0.2, 0.25, 0.0],
        }
    )
    chart = charts.decile_chart(deciles)
    assert_png(chart)
    assert chart.takeaway == "Deciles 8-10: 6 prescribers write 75.0% of fills"


def test_specialty_chart_names_the_top_three():
    specialties = pd.DataFrame(
        {
            # a blank specialty is its own row, shown as (blank)
            "specialty": ["Cardiology", None, "Family Practice", "Dentist"],
            "fills": [40.0, 10.0, 45.0, 5.0],
            "fills_share": [0.4, 0.1, 0.45, 0.05],
        }
    )
    chart = charts.specialty_chart(specialties)
    assert_png(chart)
    assert chart.takeaway == (
        "The top 3 specialties (Family Practice, Cardiology, (blank)) write 95.0% of fills"
    )


def test_cities_chart_counts_what_it_does_not_draw():
    cities = pd.DataFrame(
        {
            "city": ["NEW YORK", "LOS ANGELES", "ANCHORAGE", "NOWHERE"],
            "state_id": ["NY", "CA", "AK", "TX"],
            "lat": [40.7, 34.05, 61.2, None],  # a city without coordinates is not drawn
            "lng": [-74.0, -118.2, -149.9, None],
            "trx_counts": [300, 500, 200, 0],
        }
    )
    chart = charts.cities_chart(cities)
    assert_png(chart)
    assert chart.takeaway == (
        "4 matched cities; CA holds the most claims (50.0%); "
        "1 city outside the contiguous US not drawn"
    )


def test_cities_chart_colours_the_cities_by_segment():
    cities = pd.DataFrame(
        {
            "city": ["NEW YORK", "LOS ANGELES", "SMALLTOWN"],
            "state_id": ["NY", "CA", "KS"],
            "lat": [40.7, 34.05, 38.5],
            "lng": [-74.0, -118.2, -98.0],
            "trx_counts": [300, 500, 20],
            "segment": [1.0, 1.0, None],  # a city without a segment is drawn in grey
            "segment_name": ["large metro, high demand", "large metro, high demand", None],
        }
    )
    chart = charts.cities_chart(cities)
    assert_png(chart)
    assert chart.title == "Cities by claims, coloured by segment (contiguous US)"
    assert chart.alt == (
        "Scatter of city locations sized by claims, coloured by segment; 3 matched cities; "
        "CA holds the most claims (61.0%)."
    )


def test_cities_take_their_segment_by_state_name_and_coordinates():
    from healthanalytics.brief.page import with_segments

    report = pd.DataFrame(
        {
            "city": ["SPRINGFIELD", "SPRINGFIELD", "DALLAS"],
            "state_id": ["TX", "TX", "TX"],
            "lat": [30.0, 31.0, 32.8],
            "lng": [-97.0, -98.0, -96.8],
            "trx_counts": [1, 2, 3],
        }
    )
    segments = pd.DataFrame(
        {
            "city_id": [7, 8],
            "city": ["Springfield", "Springfield"],  # as the dimension writes it
            "state_id": ["TX", "TX"],
            "lat": [31.0, 30.0],
            "lng": [-98.0, -97.0],
            "segment": [2, 1],
            "segment_name": ["small town, high demand", "small town, low demand"],
        }
    )
    got = with_segments({"city_report": report, "city_segments": segments})
    expected = report.assign(
        segment=[1.0, 2.0, None],
        segment_name=["small town, low demand", "small town, high demand", None],
    )
    pd.testing.assert_frame_equal(got, expected)


def test_quality_chart_sums_the_quarantine():
    counts = pd.DataFrame(
        {
            "rows": ["read", "kept", "quarantined: invalid_npi", "quarantined: duplicate_row"],
            "lines": [1000, 990, 7, 3],
        }
    )
    chart = charts.quality_chart(counts)
    assert_png(chart)
    assert chart.takeaway == "10 of 1,000 lines quarantined (1.0%)"


def test_state_tiles_names_the_highest_and_lowest_index_among_states_with_enough_writers():
    states = pd.DataFrame(
        {
            # ZZ is no state (not drawn); VT has no rate (no population): grey, not ranked;
            # AK and ND have the highest indexes on fewer than 5 writers: coloured, not named
            "state_id": ["TX", "NY", "WY", "ZZ", "VT", "AK", "ND"],
            "writers": [12, 30, 5, 50, 0, 4, 1],
            "index": [1.5, 0.8, 0.4, 9.0, None, 2.74, 2.0],
        }
    )
    chart = charts.state_tiles_chart(states)
    assert_png(chart)
    assert chart.takeaway == (
        "Among the 3 states with at least 5 market writers, TX has the highest demand index "
        "(1.50x the US rate, 12 writers), WY the lowest (0.40x, 5 writers)"
    )


def test_state_tiles_without_a_state_of_enough_writers_ranks_none():
    # AK has an index on 4 writers, one short of the minimum
    states = pd.DataFrame({"state_id": ["AK", "TX"], "writers": [4, 0], "index": [2.7, 0.9]})
    chart = charts.state_tiles_chart(states)
    assert_png(chart)
    assert chart.takeaway == (
        "No state has at least 5 market writers: no state is ranked by its demand index"
    )


def test_state_tiles_without_any_index_says_so():
    chart = charts.state_tiles_chart(
        pd.DataFrame({"state_id": ["TX"], "writers": [0], "index": [None]})
    )
    assert_png(chart)
    assert chart.takeaway == "No state has a demand index (no population or no fills)"


def test_geography_rows_of_one_level_by_opportunity_rank():
    from healthanalytics.brief.page import geography_rows

    geography = pd.DataFrame(
        {
            "level": ["state", "city", "state"],
            "state_id": ["NY", "NY", "TX"],
            "city": [None, "ALBANY", None],
            "population": [100, 10, 50],
            "fills": [1.0, 1.0, 2.0],
            "writers": [1, 1, 2],
            "fills_per_1000": [10.0, 100.0, 40.0],
            "fills_per_1000_shrunk": [12.0, 30.0, 35.0],
            "index": [0.5, 1.2, 1.4],
            "opportunity_rank": [2, 1, 1],
        }
    )
    assert geography_rows(geography, "state").to_dict("records") == [
        {"opportunity_rank": 1, "state_id": "TX", "population": 50, "fills": 2.0, "writers": 2,
         "fills_per_1000": 40.0, "fills_per_1000_shrunk": 35.0, "index": 1.4},
        {"opportunity_rank": 2, "state_id": "NY", "population": 100, "fills": 1.0, "writers": 1,
         "fills_per_1000": 10.0, "fills_per_1000_shrunk": 12.0, "index": 0.5},
    ]  # fmt: skip
    assert geography_rows(geography, "city", 1)["city"].tolist() == ["ALBANY"]


def test_geography_rows_rank_only_areas_with_enough_writers():
    from healthanalytics.brief.page import geography_rows

    geography = pd.DataFrame(
        {
            "level": ["city"] * 5 + ["state"],
            "state_id": ["KY", "KS", "NY", "TX", "CA", "KY"],
            "city": ["HARDIN", "HARDTNER", "ALBANY", "AUSTIN", "FRESNO", None],
            "population": [604, 158, 90_000, 900_000, 500_000, 1_000_000],
            "fills": [1_500.0, 200.0, 900.0, 2_000.0, 100.0, 5_000.0],
            # one and four writers: the highest indexes, left out; exactly 5 is kept
            "writers": [1, 4, 5, 20, 6, 30],
            "fills_per_1000": [2_483.0, 1_266.0, 10.0, 2.2, 0.2, 5.0],
            "fills_per_1000_shrunk": [2_479.0, 1_200.0, 9.0, 2.2, 0.3, 5.0],
            "index": [1_000.0, 500.0, 3.5, 0.9, 0.1, 2.0],
            "opportunity_rank": [1, 2, 3, 4, 5, 1],
        }
    )
    rows = geography_rows(geography, "city", 2, min_writers=5)
    assert rows.to_dict("records") == [
        {"opportunity_rank": 3, "state_id": "NY", "city": "ALBANY", "population": 90_000,
         "fills": 900.0, "writers": 5, "fills_per_1000": 10.0, "fills_per_1000_shrunk": 9.0,
         "index": 3.5},
        {"opportunity_rank": 4, "state_id": "TX", "city": "AUSTIN", "population": 900_000,
         "fills": 2_000.0, "writers": 20, "fills_per_1000": 2.2, "fills_per_1000_shrunk": 2.2,
         "index": 0.9},
    ]  # fmt: skip
    # no city with 50 writers: an empty table of the same columns
    assert geography_rows(geography, "city", 10, min_writers=50).empty


def test_concentration_of_many_writers_draws_a_bounded_curve():
    # 100,000 writers: the curve is thinned for drawing, the takeaway still exact
    fills = [1.0] * 90_000 + [9.0] * 10_000
    chart = charts.concentration_chart(fills, None)
    assert_png(chart)
    assert chart.takeaway == "The top 10% of 100,000 writers write 50.0% of fills"


def test_state_cost_chart_compares_the_states_with_the_median_state():
    states = pd.DataFrame(
        {
            # CA has no index (no priced prescriber): not drawn, not ranked; the median of
            # the 4 others is the mean of the middle two, (1.08 + 1.12) / 2 = 1.10
            "presc_state": ["NY", "TX", "CA", "FL", "MN"],
            "prescribers": [40, 12, 3, 1_200, 80],
            "price_index": [0.88, 1.232, None, 1.08, 1.12],
        }
    )
    chart = charts.state_cost_chart(states)
    assert_png(chart)
    # TX: 1.232 / 1.10 = 1.12 (12% more); NY: 0.88 / 1.10 = 0.80 (20% less)
    assert chart.takeaway == (
        "All drugs: TX pays 12% more than the median state (1.23 against 1.10), NY 20% less (0.88)"
    )
    assert "all drugs" in chart.title


def test_state_cost_chart_of_one_state_compares_nothing():
    states = pd.DataFrame({"presc_state": ["NY"], "prescribers": [2], "price_index": [1.1]})
    chart = charts.state_cost_chart(states)
    assert_png(chart)
    assert chart.takeaway == "All drugs: NY is the only state with a price index (1.10)"


def test_state_cost_chart_without_any_index_says_so():
    states = pd.DataFrame({"presc_state": ["NY"], "prescribers": [2], "price_index": [None]})
    chart = charts.state_cost_chart(states)
    assert_png(chart)
    assert chart.takeaway == "No state has a price index (no eligible prescriber)"


def test_segments_chart_names_the_first_segment():
    cities = pd.DataFrame(
        {
            "lat": [40.7, 34.05, 41.9, 61.2, None],  # Anchorage and a city without coordinates
            "lng": [-74.0, -118.2, -87.6, -149.9, None],  # are counted, not drawn
            "population": [8_000_000, 4_000_000, 2_700_000, 290_000, 10_000],
            "segment": [2, 2, 1, 1, 2],
            "segment_name": ["large metro, average demand"] * 2
            + ["city, high demand"] * 2
            + ["large metro, average demand"],
        }
    )
    chart = charts.segments_chart(cities)
    assert_png(chart)
    # (2.7M + 0.29M) of 15.0M residents
    assert chart.takeaway == (
        "5 cities in 2 segments; segment 1 (city, high demand) has 2 cities and 19.9% of "
        "their residents; 1 city outside the contiguous US not drawn"
    )
    empty = charts.segments_chart(cities.iloc[0:0])
    assert empty.takeaway == "No city was segmented"


def test_lift_chart_compares_the_top_decile_with_the_baselines():
    lift = pd.DataFrame(
        {
            "model": ["lookalike"] * 2 + ["specialty_rate"] * 2 + ["volume_decile"],
            # the volume baseline's tied scores left it its top decile only
            "score_decile": [10, 1, 10, 1, 10],
            "lift": [4.0, 0.25, 2.0, 0.5, 3.5],
        }
    )
    chart = charts.lift_chart(lift)
    assert_png(chart)
    assert chart.name == "model_lift"
    assert chart.takeaway == (
        "The model's top score decile has 4.0x the overall rate (baselines: specialty rate "
        "2.0x, all-drug volume decile 3.5x)"
    )


def test_lift_chart_without_the_model_says_so():
    lift = pd.DataFrame({"model": ["specialty_rate"], "score_decile": [10], "lift": [2.0]})
    chart = charts.lift_chart(lift)
    assert_png(chart)
    assert chart.takeaway == "The model has no lift figure for its top score decile"


def test_calibration_chart_compares_the_models_gaps_from_the_diagonal():
    points = pd.DataFrame(
        [
            # the model: 2 points over in its 30-prescriber decile, 10 over in its top one
            ("lookalike", 1, 30, 0.02, 0.0),
            ("lookalike", 10, 10, 0.5, 0.4),
            # the specialty rate: exact, then 5 points under
            ("specialty_rate", 1, 20, 0.05, 0.05),
            ("specialty_rate", 10, 20, 0.2, 0.25),
            # the volume decile's scores all tied: one point, on the diagonal
            ("volume_decile", 10, 40, 0.1, 0.1),
        ],
        columns=["model", "score_decile", "prescribers", "mean_score", "positive_rate"],
    )
    chart = charts.calibration_chart(points)
    assert_png(chart)
    assert chart.name == "model_calibration"
    # weighted gaps: (30 x 2 + 10 x 10) / 40 = 4.0; (20 x 0 + 20 x 5) / 40 = 2.5; 0
    takeaway = (
        "Mean gap from the diagonal, weighted by prescribers: model 4.0 points (baselines: "
        "specialty rate 2.5, all-drug volume decile 0.0); the model's top score decile: "
        "predicted 50.0%, observed 40.0%"
    )
    assert chart.takeaway == takeaway
    assert chart.alt.endswith(f"; {takeaway}.")
    # the order of the rows does not matter
    again = charts.calibration_chart(points.iloc[::-1])
    assert again.takeaway == takeaway
    # the baselines alone (a model without points): drawn, and said
    baselines = charts.calibration_chart(points[points["model"] != "lookalike"])
    assert_png(baselines)
    assert baselines.takeaway == "The model has no reliability point"


def test_a_market_nobody_writes_is_said_so():
    products = pd.DataFrame({"brand_name": ["REPATHA", "PRALUENT"],
                             "generic_name": ["EVOLOCUMAB", "ALIROCUMAB"],
                             "product_type": ["brand", "brand"],
                             "fills_share": [None, None]})  # fmt: skip
    specialties = pd.DataFrame({"specialty": ["Cardiology", "Anesthesiology"],
                                "fills": [0.0, 0.0], "fills_share": [0.0, 0.0]})  # fmt: skip
    takeaways = [
        charts.product_shares_chart(products).takeaway,
        charts.concentration_chart([], float("nan")).takeaway,
        charts.specialty_chart(specialties).takeaway,
    ]
    assert takeaways == [
        "No product of the market was written",
        "No prescriber wrote the market: no concentration to show",
        "No specialty wrote the market",
    ]


def test_one_specialty_in_the_singular():
    specialties = pd.DataFrame({"specialty": ["Cardiology", "Anesthesiology"],
                                "fills": [10.0, 0.0], "fills_share": [1.0, 0.0]})  # fmt: skip
    chart = charts.specialty_chart(specialties)
    assert chart.takeaway == "The top specialty (Cardiology) writes 100.0% of fills"
