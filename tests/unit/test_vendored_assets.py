"""The browser assets the app serves: vendored with their licences, nothing remote."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "src/entrypoints/http/monitoring/static"


def test_the_vendored_libraries_ship_with_their_licences() -> None:
    assert (STATIC / "vendor/chartjs/LICENSE.md").read_text().startswith("The MIT License")
    assert "MIT License" in (STATIC / "vendor/redoc/LICENSE").read_text()
    assert (STATIC / "vendor/VERSIONS").read_text().splitlines() == [
        "chart.js 4.6.1",
        "redoc 2.5.4",
    ]


def test_redoc_no_longer_loads_its_logo_from_a_cdn() -> None:
    """``scripts/vendor_assets.sh`` replaces the one remote image of Redoc's side menu."""
    bundle = (STATIC / "vendor/redoc/redoc.standalone.js").read_text(encoding="utf-8")
    assert "cdn.redoc.ly" not in bundle
    assert "Redoc" in bundle


def test_the_dashboard_names_no_other_host() -> None:
    page = (STATIC.parent / "dashboard.html").read_text() + (STATIC / "dashboard.js").read_text()
    assert "http://" not in page
    assert "https://" not in page
