import hashlib

from src.domain.event_hash import canonical_json, compute_event_hash, short_hash


def test_the_hash_is_sha256_of_the_canonical_json_of_the_identifying_fields() -> None:
    expected_text = (
        '{"app_source":"phoenix-cv","event_type":"cv.uploaded","idempotency_key":null,'
        '"payload":{"a":1,"b":"é"},"user_id":"u1"}'
    )
    digest = compute_event_hash("cv.uploaded", "phoenix-cv", "u1", {"b": "é", "a": 1}, None)
    assert digest == hashlib.sha256(expected_text.encode("utf-8")).hexdigest()


def test_key_order_does_not_change_the_hash() -> None:
    first = compute_event_hash("cv.uploaded", "phoenix-cv", "u1", {"a": 1, "b": 2}, None)
    second = compute_event_hash("cv.uploaded", "phoenix-cv", "u1", {"b": 2, "a": 1}, None)
    assert first == second


def test_an_idempotency_key_tells_real_twins_apart() -> None:
    first = compute_event_hash("letter.generated", "phoenix-letters", "u1", {}, "letter-1")
    second = compute_event_hash("letter.generated", "phoenix-letters", "u1", {}, "letter-2")
    assert first != second


def test_canonical_json_has_no_spaces() -> None:
    assert canonical_json({"b": [1, 2], "a": None}) == '{"a":null,"b":[1,2]}'


def test_short_hash_is_the_first_twelve_hex_digits() -> None:
    assert short_hash("0123456789abcdef") == "0123456789ab"
