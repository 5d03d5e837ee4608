"""Cross-app nudges (features/nudges.feature): every step is one several features share
(``tests/bdd/conftest.py``)."""

from pytest_bdd import scenarios

scenarios("nudges.feature")
