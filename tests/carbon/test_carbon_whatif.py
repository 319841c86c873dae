from __future__ import annotations

import pytest

from carbon import cleanest_per_provider, get_dataset, what_if

DEU = get_dataset().factor("DEU").g_per_kwh


def test_it_lists_every_cloud_region_and_every_country() -> None:
    dataset = get_dataset()
    alternatives = what_if(100)
    countries = [z for z in dataset.zones() if z.kind == "country"]
    assert len([a for a in alternatives if a.kind == "cloud"]) == len(dataset.cloud_regions())
    assert len([a for a in alternatives if a.kind == "country"]) == len(countries)


def test_it_sorts_alternatives_by_emissions_ascending() -> None:
    emissions = [a.emissions_kg for a in what_if(100)]
    assert emissions == sorted(emissions)


def test_it_uses_the_provider_pue_for_cloud_and_the_given_pue_for_countries() -> None:
    alternatives = what_if(100, pue=1.5)
    paris = next(a for a in alternatives if a.provider == "aws" and a.region == "eu-west-3")
    # 100 kWh x 1.15 x 40.48 g/kWh (France, Ember 2024, lifecycle) = 4.6552 kg
    assert paris.pue == pytest.approx(1.15)
    assert paris.emissions_kg == pytest.approx(4.6552)
    germany = next(a for a in alternatives if a.kind == "country" and a.zone == "DEU")
    assert germany.pue == 1.5
    assert germany.emissions_kg == pytest.approx(100 * 1.5 * DEU / 1000)


def test_it_computes_savings_against_the_current_zone() -> None:
    alternatives = what_if(100, pue=1.5, current_zone="FRA")
    # current: 100 x 1.5 x 40.48 / 1000 = 6.072 kg
    current = 6.072
    germany = next(a for a in alternatives if a.kind == "country" and a.zone == "DEU")
    ger = 100 * 1.5 * DEU / 1000
    assert germany.saving_kg == pytest.approx(current - ger)
    assert germany.saving_pct == pytest.approx((current - ger) / current * 100)
    paris = next(a for a in alternatives if a.provider == "aws" and a.region == "eu-west-3")
    assert paris.saving_kg == pytest.approx(current - 4.6552)
    assert paris.saving_pct == pytest.approx((current - 4.6552) / current * 100)


def test_it_leaves_savings_empty_without_a_current_zone() -> None:
    assert all(a.saving_kg is None and a.saving_pct is None for a in what_if(10))


def test_it_uses_the_default_on_premises_pue_when_none_is_given() -> None:
    france = next(a for a in what_if(10) if a.kind == "country" and a.zone == "FRA")
    assert france.pue == get_dataset().default_pue


def test_it_picks_the_cleanest_region_of_each_provider() -> None:
    alternatives = what_if(100)
    best = cleanest_per_provider(alternatives)
    assert set(best) == {"aws", "gcp", "azure"}
    for provider, alt in best.items():
        own = [a.emissions_kg for a in alternatives if a.provider == provider]
        assert alt.emissions_kg == min(own)


def test_it_rejects_an_unknown_current_zone_and_bad_inputs() -> None:
    with pytest.raises(ValueError):
        what_if(10, current_zone="XYZ")
    with pytest.raises(ValueError):
        what_if(-1)
    with pytest.raises(ValueError):
        what_if(10, pue=0.5)
