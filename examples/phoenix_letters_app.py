"""Phoenix Letters, reduced to what the flywheel sees.

Needs only the bridge and Streamlit, not the flywheel; from the checkout:
`pip install "./clients/python[supabase]" streamlit`, then
`streamlit run examples/phoenix_letters_app.py`.

Generating a letter emits `letter.generated`, analysing an offer emits `job_offer.analyzed`;
the page shows the active nudge (a worker's, or the SQL view's while no worker runs) and
reports its display (`phoenix_page.py`, shared with the CV page). The bridge's transport
comes from the environment (docs/bridge.md). Streamlit is not a dependency of the
flywheel: `pip install streamlit` to run this page.
"""

from __future__ import annotations

import uuid

import streamlit as st
from phoenix_page import bridge_for, open_page, report

APP = "phoenix-letters"


def main() -> None:
    user_id = open_page(APP)
    if user_id is None:
        return
    bridge = bridge_for(APP)
    offer = st.text_area("Job offer")
    if st.button("Generate the letter") and offer:
        letter_id = str(uuid.uuid4())
        # The letter id tells two real letters apart; a double click re-sends the same one.
        outcome = bridge.emit(
            "letter.generated", user_id, {"letter_id": letter_id}, idempotency_key=letter_id
        )
        report("Letter generated", outcome)
    if st.button("Analyse the offer (Mirror Match)") and offer:
        # Each analysis is a new one, even of the same offer: its own key.
        outcome = bridge.emit(
            "job_offer.analyzed",
            user_id,
            {"offer_length": len(offer)},
            idempotency_key=str(uuid.uuid4()),
        )
        report("Offer analysed", outcome)


main()
