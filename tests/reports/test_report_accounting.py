from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.periods import parse_quarter
from carbon.market import (
    SCOPE_2,
    SCOPE_3,
    Consumption,
    Cover,
    market_based,
    overlap_fraction,
    quantity_cover_kwh,
    share_cover_kwh,
)
from reports.periods import last_closed_quarter
from reports.rounding import fmt, rounded


def test_a_ppa_covering_60_of_100_mwh_at_zero_leaves_16_t_at_a_400_g_residual_mix() -> None:
    result = market_based(
        [Consumption("X", SCOPE_2, 100_000.0, location_kg=50_000.0, residual_g_per_kwh=400.0)],
        [Cover("ppa", "ppa", "X", 60_000.0, 0.0)],
    )
    assert result.market_kg() == pytest.approx(16_000.0)
    assert result.lines[0].covered_kwh == pytest.approx(60_000.0)
    assert result.lines[0].residual_kwh == pytest.approx(40_000.0)
    assert result.location_kg() == 50_000.0


def test_an_instrument_with_its_own_factor_is_charged_at_that_factor() -> None:
    # 10 MWh, 4 MWh of a contract at 100 g/kWh, rest at 300 g/kWh: 0.4 t + 1.8 t.
    result = market_based(
        [Consumption("Y", SCOPE_2, 10_000.0, 0.0, 300.0)], [Cover("c", "ppa", "Y", 4_000.0, 100.0)]
    )
    assert result.market_kg() == pytest.approx(400.0 + 1_800.0)


def test_instruments_only_cover_their_own_zone() -> None:
    result = market_based(
        [
            Consumption("X", SCOPE_2, 1_000.0, 0.0, 400.0),
            Consumption("Z", SCOPE_2, 1_000.0, 0.0, 200.0),
        ],
        [Cover("rec", "rec", "Z", 5_000.0, 0.0)],
    )
    assert result.lines[0].market_kg == pytest.approx(400.0)
    assert result.lines[1].market_kg == 0.0
    assert result.covers[0].used_kwh == pytest.approx(1_000.0)
    assert result.covers[0].unused_kwh == pytest.approx(4_000.0)


def test_own_consumption_is_covered_before_cloud_consumption() -> None:
    # Cloud listed first; the 3 MWh certificate still goes to the 2 MWh of Scope 2 first.
    result = market_based(
        [
            Consumption("X", SCOPE_3, 5_000.0, 0.0, 400.0),
            Consumption("X", SCOPE_2, 2_000.0, 0.0, 400.0),
        ],
        [Cover("go", "go", "X", 3_000.0, 0.0)],
    )
    cloud, own = result.lines
    assert own.covered_kwh == pytest.approx(2_000.0) and own.market_kg == 0.0
    assert cloud.covered_kwh == pytest.approx(1_000.0)
    assert cloud.market_kg == pytest.approx(4_000.0 * 0.4)
    assert result.market_kg(SCOPE_2) == 0.0 and result.market_kg(SCOPE_3) == pytest.approx(1_600.0)


def test_a_yearly_quantity_is_prorated_to_a_quarter_by_time() -> None:
    year = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    q3 = parse_quarter("2026Q3")
    assert quantity_cover_kwh(365.0, *year, q3.start, q3.end) == pytest.approx(
        92_000.0
    )  # 92 days of 365
    assert (
        overlap_fraction(*year, datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))
        == 0.0
    )
    assert share_cover_kwh(25.0, 8_000.0) == 2_000.0


def test_quarters_and_the_periods_they_compare_with() -> None:
    q = parse_quarter("2026q1")
    assert (q.start, q.end) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert q.previous().label == "2025Q4"
    assert q.year_before().label == "2025Q1"
    assert last_closed_quarter(datetime(2026, 10, 1, 2, tzinfo=UTC)).label == "2026Q3"
    with pytest.raises(ValueError):
        parse_quarter("2026Q5")


def test_rounding_is_half_up_on_the_decimal_value_and_never_negative_zero() -> None:
    assert rounded(2.0005, 3) == 2.001
    assert rounded(2.675, 2) == 2.68  # float 2.675 is 2.67499..., repr says 2.675
    assert rounded(-0.0001, 3) == 0.0
    assert fmt(1234567.891, 3) == "1,234,567.891"
    assert fmt(None, 3) == "n/a"
