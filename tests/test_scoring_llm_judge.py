"""The LLM judge against a real HTTP server on 127.0.0.1: verdicts, retries, cache, unscored items."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from medforget_data.errors import MedForgetError
from medforget_data.scoring import judge_llm
from medforget_data.scoring.judge_llm import LLMJudge, LLMJudgeConfig, parse_verdict
from tests.scoring_fixtures import ScriptedJudgeServer, chat_reply, verdict


@pytest.fixture
def server() -> Iterator[ScriptedJudgeServer]:
    scripted = ScriptedJudgeServer()
    yield scripted
    scripted.close()


def make_judge(url: str, cache: Path, retries: int = 3, **config: object) -> LLMJudge:
    return LLMJudge(
        LLMJudgeConfig(
            base_url=url,
            model="judge-model",
            api_key="k",
            cache_dir=cache,
            max_retries=retries,
            timeout_seconds=5,
            **{"backoff_seconds": 0.01, **config},
        )
    )


def test_canned_verdict_then_cache_hit(server: ScriptedJudgeServer, tmp_path: Path) -> None:
    server.script = [verdict(0.75)]
    judge = make_judge(server.url, tmp_path)
    assert judge.factuality("Q?", "pred", "ref", "section.FINDINGS") == 0.75
    assert judge.requests == 1
    sent = server.requests[0]
    assert sent["model"] == "judge-model" and sent["temperature"] == 0
    assert "Reference answer: ref" in sent["messages"][0]["content"]
    # Same prompt again, even from a new judge: answered from the disk cache, no request.
    again = make_judge(server.url, tmp_path)
    assert again.factuality("Q?", "pred", "ref", "section.FINDINGS") == 0.75
    assert again.requests == 0 and len(server.requests) == 1


def test_retries_through_429_500_and_malformed_json(server: ScriptedJudgeServer, tmp_path: Path) -> None:
    server.script = [
        (429, "{}"),
        (500, "oops"),
        chat_reply("not json"),
        (200, "{not even json"),
        verdict(1.0),
    ]
    judge = make_judge(server.url, tmp_path, retries=4)
    assert judge.factuality("Q", "p", "r", "patient.name") == 1.0
    assert judge.requests == 5 and judge.unscored == 0


def test_exhausted_retries_leave_the_item_unscored(server: ScriptedJudgeServer, tmp_path: Path) -> None:
    server.script = [(500, "down")]
    judge = make_judge(server.url, tmp_path, retries=2)
    assert judge.factuality("Q", "p", "r", "patient.name") is None
    assert judge.requests == 3 and judge.unscored == 1
    assert not list(tmp_path.rglob("*.json"))  # a failure is never cached


def test_endpoint_down_is_unscored_not_a_crash(tmp_path: Path) -> None:
    judge = make_judge("http://127.0.0.1:9/v1", tmp_path, retries=1)  # nothing listens on port 9
    assert judge.factuality("Q", "p", "r", "patient.name") is None
    assert judge.unscored == 1


def test_verdict_parsing_and_configuration_errors(tmp_path: Path) -> None:
    assert parse_verdict('```json\n{"score": 0.5}\n```') == 0.5
    for bad in ('{"score": 2}', '{"verdict": 1}', "yes"):
        with pytest.raises(Exception, match="verdict"):
            parse_verdict(bad)
    with pytest.raises(MedForgetError, match="needs a base URL and a model"):
        LLMJudge(LLMJudgeConfig(base_url="", model="", cache_dir=tmp_path))


def test_backoff_doubles_and_honours_retry_after(
    server: ScriptedJudgeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(judge_llm.time, "sleep", sleeps.append)
    server.script = [
        (503, "{}"),
        (503, "{}"),
        (429, "{}", {"Retry-After": "7"}),
        (429, "{}", {"Retry-After": "99"}),
    ]
    server.script.append(verdict(0.25))
    judge = make_judge(server.url, tmp_path, retries=4, backoff_seconds=0.5, max_backoff_seconds=10)
    assert judge.factuality("Q", "p", "r", "patient.name") == 0.25
    # 0.5, then doubled to 1.0, then the server's 7 s (> 2.0), then its 99 s capped at 10
    assert sleeps == [0.5, 1.0, 7.0, 10.0]
    assert server.paths == ["/v1/chat/completions"] * 5
    assert server.requests[0]["messages"][0]["content"].startswith("You are grading")


def test_a_configuration_error_is_one_clear_error(server: ScriptedJudgeServer, tmp_path: Path) -> None:
    server.script = [(401, '{"error": "bad key"}')]
    judge = make_judge(server.url, tmp_path)
    with pytest.raises(MedForgetError, match="HTTP 401 .*check the base URL, model and API key"):
        judge.factuality("Q", "p", "r", "patient.name")
    assert judge.requests == 1  # not retried


def test_an_endpoint_that_never_answers_stops_with_an_error(tmp_path: Path) -> None:
    judge = make_judge("http://127.0.0.1:9/v1", tmp_path, retries=0, max_consecutive_failures=3)
    assert judge.factuality("Q", "p1", "r", "patient.name") is None
    assert judge.factuality("Q", "p2", "r", "patient.name") is None
    with pytest.raises(MedForgetError, match="gave no verdict for the first 3 items"):
        judge.factuality("Q", "p3", "r", "patient.name")


def test_an_outage_after_verdicts_leaves_the_rest_unscored_without_asking(
    server: ScriptedJudgeServer, tmp_path: Path
) -> None:
    server.script = [verdict(1.0), (500, "down")]
    judge = make_judge(server.url, tmp_path, retries=1, max_consecutive_failures=2)
    assert judge.factuality("Q", "p0", "r", "patient.name") == 1.0
    assert [judge.factuality("Q", f"p{i}", "r", "patient.name") for i in range(1, 6)] == [None] * 5
    assert judge.tripped and judge.unscored == 5
    assert judge.requests == 1 + 2 * 2  # two failing items with one retry each, then no more requests
    # A cached verdict is still served after the trip.
    assert judge.factuality("Q", "p0", "r", "patient.name") == 1.0


def test_a_damaged_cache_entry_is_asked_again(server: ScriptedJudgeServer, tmp_path: Path) -> None:
    server.script = [verdict(0.5)]
    judge = make_judge(server.url, tmp_path)
    path = judge.cache_path(judge.prompt("Q", "p", "r"))
    path.parent.mkdir(parents=True)
    path.write_text('{"score": ', encoding="utf-8")
    assert judge.factuality("Q", "p", "r", "section.FINDINGS") == 0.5
    assert judge.requests == 1 and parse_verdict(path.read_text(encoding="utf-8")) == 0.5
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_cache_key_changes_with_the_model_and_the_prompt(tmp_path: Path) -> None:
    a = make_judge("http://127.0.0.1:9/v1", tmp_path)
    b = LLMJudge(a.config.model_copy(update={"model": "other"}))
    prompt = a.prompt("Q", "p", "r")
    assert a.cache_path(prompt) != b.cache_path(prompt)
    assert a.cache_path(prompt) != a.cache_path(a.prompt("Q", "p2", "r"))
    assert judge_llm.RUBRIC_VERSION in a.version


def test_prefetch_asks_in_parallel_and_scoring_reads_from_memory(
    server: ScriptedJudgeServer, tmp_path: Path
) -> None:
    server.script = [verdict(0.5)]
    server.delay = 0.2
    judge = make_judge(server.url, tmp_path, concurrency=4)
    requests = [("Q", f"p{i}", "r", "section.FINDINGS") for i in range(8)] + [("Q", "p0", "r", "x")]
    judge.prefetch(requests)
    assert judge.requests == 8 and server.max_in_flight > 1  # one request per distinct prompt
    assert [judge.factuality(*request) for request in requests] == [0.5] * 9
    assert judge.requests == 8
