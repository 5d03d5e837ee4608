"""Phoenix Letters, reduced to what the flywheel sees.

Needs only the bridge and Streamlit, not the flywheel; from the checkout:
`pip install "./clients/python[supabase]" streamlit`, then
`streamlit run examples/phoenix_letters_app.py`.

Generating a letter emits `letter.generated`, analysing an offer emits `job_offer.analyzed`;
the page shows the active nudge (a worker's, or the SQL view's while no worker runs) and
reports its display. The bridge's transport comes from the environment: SUPABASE_URL and
SUPABASE_ANON_KEY, or FLYWHEEL_API_URL, or a postgresql:// DATABASE_URL (docs/bridge.md).
Streamlit is not a dependency of the flywheel: `pip install streamlit` to run this page.
"""

from __future__ import annotations

import uuid

import streamlit as st
from phoenix_bridge import EmitOutcome, PhoenixEventBridge

APP = "phoenix-letters"


# What the end user reads: an app's title, never its id.
TITLES = {"phoenix-cv": "Phoenix CV", "phoenix-letters": "Phoenix Letters"}


@st.cache_resource
def bridge_for(app: str) -> PhoenixEventBridge:
    """One bridge (and one outbox flusher) per app and server process, shared by every
    session. Keyed by the app: in a multipage app, Streamlit caches functions with the
    same code under one key, so an argument-less ``bridge()`` on each page would hand
    every page the first page's bridge (and its ``app_source``)."""
    return PhoenixEventBridge(app)


def bridge() -> PhoenixEventBridge:
    return bridge_for(APP)


def main() -> None:
    st.title(TITLES[APP])
    user_id = st.text_input("User id", value="demo-user")
    if not user_id:
        return

    for nudge in bridge().get_nudges(user_id):
        target = str(nudge["target_app"])
        st.info(f"{nudge['message']} ({TITLES.get(target, target)})")
        # Recorded once shown: the store then hides it for the cooldown, on the next
        # rerun or reload too, and counts this display as its exposure.
        bridge().mark_shown(nudge["nudge_id"])

    offer = st.text_area("Job offer")
    if st.button("Generate the letter") and offer:
        letter_id = str(uuid.uuid4())
        # The letter id tells two real letters apart; a double click re-sends the same one.
        outcome = bridge().emit(
            "letter.generated", user_id, {"letter_id": letter_id}, idempotency_key=letter_id
        )
        report("Letter generated", outcome)
    if st.button("Analyse the offer (Mirror Match)") and offer:
        # Each analysis is a new one, even of the same offer: its own key.
        outcome = bridge().emit(
            "job_offer.analyzed",
            user_id,
            {"offer_length": len(offer)},
            idempotency_key=str(uuid.uuid4()),
        )
        report("Offer analysed", outcome)


def report(what: str, outcome: EmitOutcome) -> None:
    if outcome:
        st.success(f"{what} (event {outcome.value})")
    else:
        st.warning(f"{what}, but the event was not recorded: {outcome.reason}")


main()
