"""The shared redaction rules: secrets by name, and known secret values in every encoding we send them in."""

from __future__ import annotations

import base64
import json
import urllib.parse

import httpx

from nomaflow.actors.errors import PermanentStepFailure, StepFailure
from nomaflow.engine.steps.redaction import (
    Scrubber,
    basic_credentials,
    current_scrubber,
    scrub_error,
    scrubbing,
    shown_url,
)

SECRET = 'p@ss/w+rd "é" <x>'


def test_every_encoding_of_a_secret_is_replaced() -> None:
    scrub = Scrubber([SECRET])
    raw = SECRET.encode()
    encodings = [
        SECRET,
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote(SECRET),
        urllib.parse.quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        "p@ss/w+rd &quot;é&quot; &lt;x&gt;",
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]
    for form in encodings:
        assert scrub(f"before {form} after") == "before *** after", form


def test_a_basic_header_is_replaced_whole_and_a_longer_secret_first() -> None:
    pair = basic_credentials("svc", "hunter2-pw")
    scrub = Scrubber(["hunter2-pw", pair, "hunter2"])
    assert scrub(f"echo: Authorization: Basic {pair}") == "echo: Authorization: Basic ***"
    assert scrub("hunter2-pw and hunter2") == "*** and ***"


def test_values_are_scrubbed_at_any_depth_keys_included() -> None:
    scrub = Scrubber(["k-123456"])
    data = {"headers": {"x": "k-123456"}, "k-123456": [1, "a k-123456 b", {"n": None}], "n": 5}
    assert scrub.value(data) == {"headers": {"x": "***"}, "***": [1, "a *** b", {"n": None}], "n": 5}


def test_short_values_and_empty_scrubbers_change_nothing() -> None:
    assert not Scrubber(["ab", ""])
    text = "ab ab"
    assert Scrubber(["ab"])(text) is text
    assert (Scrubber(["secret-1"]) | Scrubber(["secret-2"]))("secret-1 secret-2") == "*** ***"


def test_an_error_is_copied_with_its_message_scrubbed_and_its_attributes_kept() -> None:
    scrub = Scrubber(["tok-abcdef"])
    error = StepFailure("401 for tok-abcdef", retry_after=7)
    scrubbed = scrub_error(error, scrub)
    assert type(scrubbed) is StepFailure and str(scrubbed) == "401 for ***" and scrubbed.retry_after == 7
    permanent = PermanentStepFailure("nothing secret")
    assert scrub_error(permanent, scrub) is permanent


def test_the_current_scrubber_is_set_inside_the_block_only() -> None:
    scrub = Scrubber(["tok-abcdef"])
    assert not current_scrubber.get()
    with scrubbing(scrub):
        assert current_scrubber.get() is scrub
    assert not current_scrubber.get()


def test_shown_url_drops_user_info_and_query() -> None:
    assert shown_url("https://u:p@h.example/a/b?token=x#f") == "https://h.example/a/b"
    assert shown_url(httpx.URL("http://h:8080/")) == "http://h:8080/"
