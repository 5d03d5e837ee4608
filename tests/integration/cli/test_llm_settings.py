"""The LLM settings on the command line: off by default, and a wrong value is an exit 2
naming the variable, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.entrypoints.cli.commands import main
from tests.conftest import make_settings

OLLAMA = "http://localhost:11434/v1"


@pytest.fixture(autouse=True)
def no_llm_in_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LLM_BASE_URL", "LLM_MODEL", "LLM_API_KEY", "LLM_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'flywheel.db'}")


def test_it_is_off_unless_url_and_model_are_set(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert not make_settings(url).llm.enabled
    assert not make_settings(url, llm_base_url=" ", llm_model="").llm.enabled
    on = make_settings(url, llm_base_url=OLLAMA, llm_model="qwen2.5:3b", llm_api_key="sk-1")
    assert on.llm.enabled
    assert (on.llm.base_url, on.llm.model) == (OLLAMA, "qwen2.5:3b")
    assert on.llm.api_key is not None
    assert on.llm.api_key.get_secret_value() == "sk-1"
    assert "sk-1" not in repr(on)
    assert (on.llm_timeout_seconds, on.llm_concurrency) == (None, 2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_BASE_URL": OLLAMA}, "error: LLM_MODEL is required when LLM_BASE_URL is set"),
        ({"LLM_MODEL": "qwen2.5:3b"}, "error: setting LLM_MODEL: LLM_BASE_URL is required"),
        (
            {"LLM_BASE_URL": "localhost:11434", "LLM_MODEL": "qwen2.5:3b"},
            "error: LLM_BASE_URL must start with http:// or https://",
        ),
        (
            {"LLM_BASE_URL": OLLAMA, "LLM_MODEL": "m", "LLM_TIMEOUT_SECONDS": "30"},
            "error: LLM_TIMEOUT_SECONDS must be below EVENT_PROCESSING_TIMEOUT (30)",
        ),
        (
            {"EVENT_PROCESSING_TIMEOUT": "5", "LLM_TIMEOUT_SECONDS": "6"},
            "error: LLM_TIMEOUT_SECONDS must be below EVENT_PROCESSING_TIMEOUT (5)",
        ),
        ({"LLM_TIMEOUT_SECONDS": "0"}, "error: setting LLM_TIMEOUT_SECONDS: Input should be"),
        ({"LLM_CONCURRENCY": "0"}, "error: setting LLM_CONCURRENCY: Input should be"),
        ({"LLM_CONCURRENCY": "lots"}, "error: setting LLM_CONCURRENCY: Input should be"),
    ],
)
def test_a_wrong_value_is_an_exit_2_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert "Traceback" not in err
    assert not (tmp_path / "flywheel.db").exists()  # nothing opened, nothing written


def test_the_command_line_runs_with_it_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", OLLAMA)
    monkeypatch.setenv("LLM_MODEL", "qwen2.5:3b")
    monkeypatch.setenv("LLM_API_KEY", "sk-never-shown")
    assert main(["status"]) == 0
    captured = capsys.readouterr()
    assert "sk-never-shown" not in captured.out + captured.err
