"""ActivityState reads an activity's error in both forms servers send."""

from spindle.models import ActivityState

BASE = {"activity_key": "call", "status": "failed", "outputs": None, "attempt": 1, "iteration": 0}


def test_activity_state_string_error_with_detail_uses_detail() -> None:
    state = ActivityState.from_json(
        {**BASE, "error": "HTTP_ERROR: upstream answered 503", "error_detail": {"code": "HTTP_ERROR", "message": "upstream answered 503"}}
    )
    assert (state.error_code, state.error_message, state.error_text) == ("HTTP_ERROR", "upstream answered 503", "HTTP_ERROR: upstream answered 503")


def test_activity_state_string_error_alone_is_split_at_the_code() -> None:
    state = ActivityState.from_json({**BASE, "error": "DATABASE_ERROR: 42P01: relation \"x\" does not exist"})
    assert state.error_code == "DATABASE_ERROR"
    assert state.error_message == '42P01: relation "x" does not exist'


def test_activity_state_object_error_from_older_servers() -> None:
    state = ActivityState.from_json({**BASE, "error": {"code": "TIMEOUT", "message": "Script exceeded timeout of 2 s"}})
    assert (state.error_code, state.error_message) == ("TIMEOUT", "Script exceeded timeout of 2 s")
    assert state.error_text == "TIMEOUT: Script exceeded timeout of 2 s"


def test_activity_state_no_error() -> None:
    state = ActivityState.from_json({**BASE, "status": "completed", "error": None})
    assert (state.error, state.error_text, state.error_code) == (None, None, None)
