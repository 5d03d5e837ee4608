"""The skills gap over real HTTP, on both stores, with the server's own worker: an offer,
then a CV lacking most of it, gives the insight and the nudge in Phoenix CV; a new CV
with the skills converts the nudge; forgetting the user leaves no insight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from phoenix_bridge import BridgeConfig, PhoenixEventBridge

from tests.e2e.conftest import Server, running_server

pytestmark = pytest.mark.e2e
TOKEN = "e2e-skills-gap-token"
USER = "camille"


def event(event_type: str, app: str, payload: dict[str, Any], at: str) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "app_source": app,
        "user_id": USER,
        "payload": payload,
        "timestamp": at,
    }


def settled(server: Server, processed: int) -> bool:
    status = server.queue()
    return (status.get("processed"), status.get("pending"), status.get("processing")) == (
        processed,
        0,
        0,
    )


def gap_nudges(server: Server) -> list[dict[str, Any]]:
    journey = server.client.get(f"/api/users/{USER}/journey")
    if journey.status_code != 200:
        return []
    return [n for n in journey.json()["nudges"] if n["nudge_type"] == "skills_gap_to_cv"]


def test_an_offer_and_a_cv_give_the_gap_and_a_new_cv_converts_its_nudge(
    migrated_url: str, tmp_path: Path
) -> None:
    with running_server(migrated_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        http = server.client
        offer = {
            "offer_id": "airbus-42",
            "title": "Ingénieur données",
            "company": "Airbus",
            "skills": ["Python", "SQL", "Docker", "anglais"],
        }
        sent = http.post(
            "/api/events",
            json=event("job_offer.analyzed", "phoenix-letters", offer, "2026-03-02T09:00:00Z"),
        )
        assert sent.status_code == 202, sent.text
        server.wait_until(lambda: settled(server, 1), what="the offer processed")
        cv = {"cv_id": "cv-1", "skills": ["Python"]}
        sent = http.post(
            "/api/events", json=event("cv.uploaded", "phoenix-cv", cv, "2026-03-02T10:00:00Z")
        )
        assert sent.status_code == 202, sent.text
        server.wait_until(lambda: settled(server, 2), what="the CV processed")
        server.wait_until(lambda: gap_nudges(server) != [], what="the skills-gap nudge")

        insights = http.get(f"/api/users/{USER}/insights")
        assert insights.status_code == 200, insights.text
        assert insights.headers["cache-control"] == "no-store"
        (insight,) = insights.json()
        assert insight["kind"] == "skills_gap"
        assert insight["data"]["offer_id"] == "airbus-42"
        assert insight["data"]["missing"] == ["SQL", "Docker", "anglais"]
        assert insight["data"]["matched"] == ["Python"]
        assert insight["data"]["score"] == 0.25
        assert insight["message"] == (
            "3 compétences demandées par l'offre Airbus manquent à votre CV : SQL, Docker, anglais"
        )
        (english,) = http.get(f"/api/users/{USER}/insights", params={"lang": "en"}).json()
        assert english["message"] == (
            "3 skills the Airbus offer asks for are missing from your CV: SQL, Docker, anglais"
        )
        assert english["insight_id"] == insight["insight_id"]
        assert http.get(f"/api/users/{USER}/insights", params={"lang": "xx"}).status_code == 400
        assert server.anonymous.get(f"/api/users/{USER}/insights").status_code == 401
        journey = http.get(f"/api/users/{USER}/journey").json()
        assert [i["insight_id"] for i in journey["insights"]] == [insight["insight_id"]]

        # The bridge's HTTP transport answers what the API does.
        config = BridgeConfig(
            transport="http",
            api_url=str(http.base_url),
            api_token=TOKEN,
            outbox_path=tmp_path / "outbox.db",
        )
        with PhoenixEventBridge("phoenix-cv", config) as bridge:
            (bridged,) = bridge.get_insights(USER, lang="en")
        assert {k: v for k, v in bridged.items() if k != "created_at"} == {
            k: v for k, v in english.items() if k != "created_at"
        }
        assert bridged["created_at"].isoformat() == "2026-03-02T10:00:00+00:00"

        shown = http.get(f"/api/users/{USER}/nudges", params={"app": "phoenix-cv"}).json()
        assert [n["nudge_type"] for n in shown] == ["skills_gap_to_cv"]
        assert [n["status"] for n in gap_nudges(server)] == ["active"]

        new_cv = {"cv_id": "cv-2", "skills": ["Python", "SQL", "Docker", "English"]}
        sent = http.post(
            "/api/events",
            json=event("cv.generated", "phoenix-cv", new_cv, "2026-03-03T10:00:00Z"),
        )
        assert sent.status_code == 202, sent.text
        server.wait_until(lambda: settled(server, 3), what="the new CV processed")
        server.wait_until(
            lambda: [n["status"] for n in gap_nudges(server)] == ["converted"],
            what="the nudge converted",
        )
        newest, older = http.get(f"/api/users/{USER}/insights").json()
        assert (newest["data"]["missing"], newest["data"]["score"]) == ([], 1.0)
        assert older["insight_id"] == insight["insight_id"]

        dashboard = http.get("/api/dashboard", params={"days": 3650})
        assert dashboard.json()["insights"] == {"skills_gap": 2}

        forgotten = http.delete(f"/api/users/{USER}")
        assert forgotten.status_code == 200, forgotten.text
        removed = forgotten.json()["removed"]
        assert (removed["insights"], removed["skill_profiles"]) == (2, 3)
        assert http.get(f"/api/users/{USER}/insights").json() == []
