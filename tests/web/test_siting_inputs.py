"""What the siting page's question offers (geo/web/views/siting_inputs.py), without Streamlit."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from geo.web.views import siting_inputs
from geo.web.views.siting import SLIDER_MAX, CandidateUpload


def test_sites_slider_bounds():
    assert siting_inputs.sites_top(0) == 1 and siting_inputs.sites_top(7) == 7
    assert siting_inputs.sites_top(10_000) == SLIDER_MAX
    assert siting_inputs.sites_start(30, 7) == 7 and siting_inputs.sites_start(0, 7) == 1
    assert siting_inputs.sites_start(5, 7) == 5


def test_target_floor_and_range():
    assert siting_inputs.target_floor(62.4, 100.0) == 63  # just above what is already covered
    assert siting_inputs.target_floor(0.0, 100.0) == 1
    assert siting_inputs.target_floor(100.0, 100.0) == 100
    assert siting_inputs.target_floor(0.0, 0.0) == 50  # no demand at all
    assert siting_inputs.target_range(63, 95) == (63, 95)
    assert siting_inputs.target_range(63, 40) == (63, 63)  # a remembered share below the floor is raised
    assert siting_inputs.target_range(100, 95) == (99, 99)  # a slider needs two positions


def test_upload_lines():
    upload = CandidateUpload(SimpleNamespace(summary={"rows": 1200, "accepted": 1180, "rejected": 20}),
                             pd.DataFrame())
    assert siting_inputs.upload_summary(upload, lang="en") == "Rows **1,200** · Accepted **1,180** · Rejected **20**"
    assert siting_inputs.upload_summary(upload) == "读取 **1,200** · 通过 **1,180** · 拒绝 **20**"
    assert siting_inputs.rejects_name("候选点.v2.csv") == "候选点.v2_rejected.csv"
    assert siting_inputs.rejects_name(".csv") == "candidates_rejected.csv"
