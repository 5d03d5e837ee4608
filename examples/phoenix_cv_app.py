"""Phoenix CV, reduced to what the flywheel sees.

Needs only the bridge and Streamlit, not the flywheel; from the checkout:
`pip install "./clients/python[supabase]" streamlit`, then
`streamlit run examples/phoenix_cv_app.py`.

Uploading a CV emits `cv.uploaded`, generating one emits `cv.generated`; the page shows
the active nudge and reports its display. Configuration as in docs/bridge.md; Streamlit
is not a dependency of the flywheel: `pip install streamlit` to run this page.
"""

from __future__ import annotations

import hashlib
import uuid

import streamlit as st
from phoenix_bridge import EmitOutcome, PhoenixEventBridge

APP = "phoenix-cv"


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

    upload = st.file_uploader("Your CV", type=["pdf", "docx"])
    if upload is not None and st.button("Upload"):
        content = upload.getvalue()
        # The file's digest is the key: uploading the same file twice is one event.
        digest = hashlib.sha256(content).hexdigest()
        outcome = bridge().emit(
            "cv.uploaded", user_id, {"size": len(content)}, idempotency_key=digest
        )
        report("CV uploaded", outcome)
    if st.button("Generate a new CV"):
        # Each click is a new CV: its own key, or the second would count as a duplicate.
        outcome = bridge().emit(
            "cv.generated", user_id, {"template": "modern"}, idempotency_key=str(uuid.uuid4())
        )
        report("CV generated", outcome)


def report(what: str, outcome: EmitOutcome) -> None:
    if outcome:
        st.success(f"{what} (event {outcome.value})")
    else:
        st.warning(f"{what}, but the event was not recorded: {outcome.reason}")


main()
