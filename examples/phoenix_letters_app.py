"""Phoenix Letters, reduced to what the flywheel sees.

Run from the checkout: `PYTHONPATH=. streamlit run examples/phoenix_letters_app.py`.

Generating a letter emits `letter.generated`, analysing an offer emits `job_offer.analyzed`;
the page shows the active nudge (a worker's, or the SQL view's while no worker runs) and
reports its display. The bridge's transport comes from the environment: SUPABASE_URL and
SUPABASE_ANON_KEY, or FLYWHEEL_API_URL, or a postgresql:// DATABASE_URL (docs/bridge.md).
Streamlit is not a dependency of the flywheel: `pip install streamlit` to run this page.
"""

from __future__ import annotations

import uuid

import streamlit as st

from src.adapters.bridge import PhoenixEventBridge

APP = "phoenix-letters"


@st.cache_resource
def bridge() -> PhoenixEventBridge:
    """One bridge (and one outbox flusher) per server process, shared by every session."""
    return PhoenixEventBridge(APP)


def main() -> None:
    st.title("Phoenix Letters")
    user_id = st.text_input("User id", value="demo-user")
    if not user_id:
        return

    for nudge in bridge().get_nudges(user_id):
        st.info(f"{nudge['message']} ({nudge['target_app']})")
        shown = st.session_state.setdefault("shown", set())
        if nudge["nudge_id"] and nudge["nudge_id"] not in shown:
            bridge().mark_shown(nudge["nudge_id"])
            shown.add(nudge["nudge_id"])

    offer = st.text_area("Job offer")
    if st.button("Generate the letter") and offer:
        letter_id = str(uuid.uuid4())
        # The letter id tells two real letters apart; a double click re-sends the same one.
        outcome = bridge().emit(
            "letter.generated", user_id, {"letter_id": letter_id}, idempotency_key=letter_id
        )
        st.success(f"Letter generated (event {outcome.value})")
    if st.button("Analyse the offer (Mirror Match)") and offer:
        outcome = bridge().emit("job_offer.analyzed", user_id, {"offer_length": len(offer)})
        st.success(f"Offer analysed (event {outcome.value})")


main()
