"""Tests for geo.registry.sample and the bundled sample registry data/sample_registry.geojson."""
from __future__ import annotations

import json
import re
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from geo import settings
from geo.core.hours import parse_opening_hours
from geo.core.regions import district_named_in, in_region, load_boundaries, locate
from geo.registry.sample import generate_sample
from geo.core.schema import FACILITIES, FIELD_NAMES, KINDS, STATUSES, station_id


@pytest.fixture(scope="module")
def sample():
    return generate_sample()


def test_deterministic():
    a = generate_sample(400, seed=7)
    b = generate_sample(400, seed=7)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")))
    assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all()
    c = generate_sample(400, seed=8)
    assert a["id"].tolist() != c["id"].tolist()
    assert not np.allclose(a["lon"], c["lon"])


def test_columns_and_crs(sample):
    assert list(sample.columns) == list(FIELD_NAMES) + ["geometry"]
    assert sample.crs.to_epsg() == 4326
    assert len(sample) == 3000
    assert (sample.geom_type == "Point").all()
    assert np.array_equal(sample.geometry.x.to_numpy(), sample["lon"].to_numpy())
    assert np.array_equal(sample.geometry.y.to_numpy(), sample["lat"].to_numpy())


def test_all_kinds_with_plausible_shares(sample):
    share = sample["kind"].value_counts(normalize=True)
    assert set(share.index) == set(KINDS)
    assert 0.65 < share["rest_station"] < 0.75
    assert 0.10 < share["driver_home"] < 0.20
    assert 0.10 < share["legal_aid"] < 0.20
    for kind, subtype in zip(sample["kind"], sample["subtype"]):
        assert subtype in KINDS[kind].subtypes


def test_all_cities_present_and_urban_weighting(sample):
    cities = set(load_boundaries("city")["name"])
    assert set(sample["city"]) == cities
    assert set(generate_sample(21, seed=1)["city"]) == cities
    counts = sample["city"].value_counts()
    assert counts["广州市"] > 3 * counts["云浮市"]
    assert counts["深圳市"] > 3 * counts["潮州市"]
    tianhe = (sample["district"] == "天河区").sum()
    conghua = (sample["district"] == "从化区").sum()
    assert tianhe > 2 * conghua


def test_points_inside_guangdong_and_their_district(sample):
    lon, lat = sample["lon"].to_numpy(), sample["lat"].to_numpy()
    assert in_region(lon, lat).all()
    where = locate(lon, lat)
    assert (where["adcode"].to_numpy() == sample["adcode"].to_numpy()).all()
    assert (where["district"].to_numpy() == sample["district"].to_numpy()).all()
    assert (where["city"].to_numpy() == sample["city"].to_numpy()).all()
    # Six decimals, as written to the GeoJSON file.
    assert np.array_equal(np.round(lon, 6), lon) and np.array_equal(np.round(lat, 6), lat)


def test_addresses_name_the_right_place(sample):
    for address, city, district in zip(sample["address"], sample["city"], sample["district"]):
        assert address.startswith(city)
        assert district_named_in(address) == district, address


def test_ids_unique_and_stable(sample):
    assert sample["id"].is_unique
    assert sample["source_id"].is_unique
    assert sample["source_id"].str.fullmatch(r"S\d{6}").all()
    assert sample["name"].is_unique
    for row in sample.head(50).itertuples():
        assert row.id == station_id(row.kind, "sample", row.source_id, row.name, row.lon, row.lat)


def test_facilities_in_vocabulary_and_fit_the_kind(sample):
    for kind, facilities, other in zip(sample["kind"], sample["facilities"], sample["facilities_other"]):
        assert isinstance(facilities, list) and isinstance(other, list)
        assert facilities, "every station offers something"
        assert set(facilities) <= set(FACILITIES)
        assert facilities == [c for c in FACILITIES if c in facilities]  # vocabulary order
        if kind == "legal_aid":
            assert "legal_consultation" in facilities
        else:
            assert not {"legal_consultation", "mediation"} & set(facilities)
    dh = sample[sample["kind"] == "driver_home"]
    assert dh["facilities"].map(lambda f: "truck_parking" in f).mean() > 0.85
    rs = sample[sample["kind"] == "rest_station"]
    assert rs["facilities"].map(lambda f: "drinking_water" in f).mean() > 0.9
    assert not rs["facilities"].map(lambda f: "truck_parking" in f).any()


def test_kind_specific_fields(sample):
    dh = sample["kind"] == "driver_home"
    la = sample["kind"] == "legal_aid"
    spaces = sample["truck_parking_spaces"]
    assert spaces[dh].map(lambda v: isinstance(v, int) and v > 0).all()
    assert spaces[~dh].map(lambda v: v is None).all()
    assert (sample.loc[la, "lawyer_hours"] != "").all()
    assert (sample.loc[~la, "lawyer_hours"] == "").all()


def test_opening_hours_parsed_by_geo_hours(sample):
    texts = sample["opening_hours"].unique()
    assert len(texts) >= 8  # the varied forms real lists use
    assert "24小时" in texts
    for text in texts:
        parsed = parse_opening_hours(text)
        rows = sample[sample["opening_hours"] == text]
        assert parsed.ok, text
        assert (rows["opening_hours_osm"] == parsed.osm).all()
        assert (rows["is_24h"] == parsed.is_24h).all()


def test_sample_markers_and_status(sample):
    assert sample["is_sample"].all()
    assert (sample["source"] == "sample").all()
    assert (sample["notes"] == settings.SAMPLE_LABEL).all()
    assert (sample["version"] == 1).all()
    assert set(sample["status"]) <= set(STATUSES)
    assert (sample["status"] == "open").mean() > 0.85
    assert {"temporarily_closed", "closed"} <= set(sample["status"])
    assert sample["title"].isin(["", "省级示范驿站", "市级示范驿站", "省级示范司机之家"]).all()
    assert (sample["title"] != "").sum() > 0
    assert sample["phone"].str.fullmatch(r"0\d{2,3}-8\d{7}").all()
    for text in sample["verified_at"]:
        date.fromisoformat(text)
    for text in sample["updated_at"]:
        assert datetime.fromisoformat(text).tzinfo is not None
    assert (sample["updated_at"].str[:10] >= sample["verified_at"]).all()


# --------------------------------------------------------------------------
# The bundled file
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    path = settings.SAMPLE_PATH
    assert path.exists(), "run data/make_sample.py"
    return json.loads(path.read_text(encoding="utf-8"))


def test_bundled_file_is_rfc7946(bundled):
    assert settings.SAMPLE_PATH.stat().st_size < 3 * 1024 * 1024
    assert bundled["type"] == "FeatureCollection"
    assert "crs" not in bundled
    assert bundled["notice"] == settings.SAMPLE_LABEL
    assert len(bundled["features"]) == 3000
    for feature in bundled["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert 109 < lon < 118 and 20 < lat < 26
        assert all(len(repr(v).split(".")[-1]) <= 6 for v in (lon, lat))
        assert isinstance(feature["properties"]["facilities"], list)
        assert feature["properties"]["is_sample"] is True
    text = settings.SAMPLE_PATH.read_text(encoding="utf-8")
    assert "天河区" in text and "\\u" not in text  # UTF-8, not escaped


def test_bundled_file_matches_generator(bundled, sample):
    props = pd.DataFrame([f["properties"] for f in bundled["features"]])
    coords = np.array([f["geometry"]["coordinates"] for f in bundled["features"]])
    assert props["id"].tolist() == sample["id"].tolist()
    assert props["name"].tolist() == sample["name"].tolist()
    assert props["facilities"].tolist() == sample["facilities"].tolist()
    assert np.array_equal(coords[:, 0], sample["lon"].to_numpy())
    assert np.array_equal(coords[:, 1], sample["lat"].to_numpy())
    assert re.fullmatch(r"\d{6}", props["adcode"].iat[0])
