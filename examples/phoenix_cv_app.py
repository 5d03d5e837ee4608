"""Phoenix CV, reduced to what the flywheel sees.

Run from the checkout: `PYTHONPATH=. streamlit run examples/phoenix_cv_app.py`.

Uploading a CV emits `cv.uploaded`, generating one emits `cv.generated`; the page shows
the active nudge and reports its display. Configuration as in docs/bridge.md; Streamlit
is not a dependency of the flywheel: `pip install streamlit` to run this page.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from src.adapters.bridge import PhoenixEventBridge

APP = "phoenix-cv"


@st.cache_resource
def bridge() -> PhoenixEventBridge:
    """One bridge (and one outbox flusher) per server process, shared by every session."""
    return PhoenixEventBridge(APP)


def main() -> None:
    st.title("Phoenix CV")
    user_id = st.text_input("User id", value="demo-user")
    if not user_id:
        return

    for nudge in bridge().get_nudges(user_id):
        st.info(f"{nudge['message']} ({nudge['target_app']})")
        shown = st.session_state.setdefault("shown", set())
        if nudge["nudge_id"] and nudge["nudge_id"] not in shown:
            bridge().mark_shown(nudge["nudge_id"])
            shown.add(nudge["nudge_id"])

    upload = st.file_uploader("Your CV", type=["pdf", "docx"])
    if upload is not None and st.button("Upload"):
        content = upload.getvalue()
        # The file's digest is the key: uploading the same file twice is one event.
        digest = hashlib.sha256(content).hexdigest()
        outcome = bridge().emit(
            "cv.uploaded", user_id, {"size": len(content)}, idempotency_key=digest
        )
        st.success(f"CV uploaded (event {outcome.value})")
    if st.button("Generate a new CV"):
        outcome = bridge().emit("cv.generated", user_id, {"template": "modern"})
        st.success(f"CV generated (event {outcome.value})")


main()
