"""What the example Streamlit pages share: the bridge, the nudge display, the outcome line.

Each Phoenix app's page differs only in the events its buttons emit; how it reaches the
store and shows a nudge is the same, so it lives here once. Streamlit puts the page's
folder on ``sys.path``, so ``import phoenix_page`` works from `streamlit run
examples/<page>.py`. The bridge's transport comes from the environment: SUPABASE_URL and
SUPABASE_ANON_KEY, or FLYWHEEL_API_URL, or a postgresql:// DATABASE_URL (docs/bridge.md).
"""

from __future__ import annotations

import streamlit as st
from phoenix_bridge import EmitOutcome, PhoenixEventBridge

# What the end user reads: an app's title, never its id.
TITLES = {"phoenix-cv": "Phoenix CV", "phoenix-letters": "Phoenix Letters"}


@st.cache_resource
def bridge_for(app: str) -> PhoenixEventBridge:
    """One bridge (and one outbox flusher) per app and server process, shared by every
    session. Keyed by the app: in a multipage app, Streamlit caches functions with the
    same code under one key, so an argument-less ``bridge()`` would hand every page the
    first page's bridge (and its ``app_source``)."""
    return PhoenixEventBridge(app)


def open_page(app: str) -> str | None:
    """The page's title, the user it acts for, and that user's nudges in this app, each
    reported as shown; the user id, or ``None`` while none is given."""
    st.title(TITLES[app])
    user_id = st.text_input("User id", value="demo-user")
    if not user_id:
        return None
    bridge = bridge_for(app)
    for nudge in bridge.get_nudges(user_id):
        target = str(nudge["target_app"])
        st.info(f"{nudge['message']} ({TITLES.get(target, target)})")
        # Recorded once shown: the store then hides it for the cooldown, on the next
        # rerun or reload too, and counts this display as its exposure.
        bridge.mark_shown(nudge["nudge_id"])
    return user_id


def report(what: str, outcome: EmitOutcome) -> None:
    """What became of the event, in the user's words: ``emit`` never raises, so a falsy
    outcome (``rejected``, ``dropped``) is the only sign it was not recorded."""
    if outcome:
        st.success(f"{what} (event {outcome.value})")
    else:
        st.warning(f"{what}, but the event was not recorded: {outcome.reason}")
