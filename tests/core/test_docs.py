"""The schema page documents exactly what the code uses."""
from pathlib import Path

from geo.core.schema import FACILITIES, FIELD_NAMES, KINDS, STATUSES
from geo.registry.reasons import REJECT_REASONS, WARNING_REASONS
from conftest import ROOT

DOC = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")


def test_every_schema_name_is_documented():
    names = [*FIELD_NAMES, *FACILITIES, *KINDS, *STATUSES, *REJECT_REASONS, *WARNING_REASONS]
    missing = [n for n in names if f"`{n}`" not in DOC]
    assert not missing, f"docs/schema.md does not document: {missing}"


def test_every_facility_has_both_labels_in_the_doc():
    for f in FACILITIES.values():
        assert f.zh in DOC and f.en in DOC
