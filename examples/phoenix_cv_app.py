"""Phoenix CV, reduced to what the flywheel sees.

Needs only the bridge and Streamlit, not the flywheel; from the checkout:
`pip install "./clients/python[supabase]" streamlit`, then
`streamlit run examples/phoenix_cv_app.py`.

Uploading a CV emits `cv.uploaded`, generating one emits `cv.generated`; the page shows
the active nudge and reports its display (`phoenix_page.py`, shared with the Letters
page). Configuration as in docs/bridge.md; Streamlit is not a dependency of the
flywheel: `pip install streamlit` to run this page.
"""

from __future__ import annotations

import hashlib
import uuid

import streamlit as st
from phoenix_page import bridge_for, open_page, report

APP = "phoenix-cv"


def main() -> None:
    user_id = open_page(APP)
    if user_id is None:
        return
    bridge = bridge_for(APP)
    upload = st.file_uploader("Your CV", type=["pdf", "docx"])
    if upload is not None and st.button("Upload"):
        content = upload.getvalue()
        # The file's digest is the key: uploading the same file twice is one event.
        digest = hashlib.sha256(content).hexdigest()
        outcome = bridge.emit(
            "cv.uploaded", user_id, {"size": len(content)}, idempotency_key=digest
        )
        report("CV uploaded", outcome)
    if st.button("Generate a new CV"):
        # Each click is a new CV: its own key, or the second would count as a duplicate.
        outcome = bridge.emit(
            "cv.generated", user_id, {"template": "modern"}, idempotency_key=str(uuid.uuid4())
        )
        report("CV generated", outcome)


main()
