"""The LLM judge against a real HTTP server on 127.0.0.1: verdicts, retries, cache, unscored items."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from medforget_data.errors import MedForgetError
from medforget_data.scoring.judge_llm import LLMJudge, LLMJudgeConfig, parse_verdict


class ScriptedJudgeServer:
    """Answers /chat/completions from a script: a list of (status, body) per request, then the last one."""

    def __init__(self) -> None:
        self.script: list[tuple[int, str]] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers["Content-Length"])
                server.requests.append(json.loads(self.rfile.read(length)))
                status, body = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def verdict(score: object) -> tuple[int, str]:
    content = json.dumps({"score": score})
    return 200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})


@pytest.fixture
def server() -> Iterator[ScriptedJudgeServer]:
    scripted = ScriptedJudgeServer()
    yield scripted
    scripted.httpd.shutdown()


def make_judge(url: str, cache: Path, retries: int = 3) -> LLMJudge:
    return LLMJudge(
        LLMJudgeConfig(
            base_url=url,
            model="judge-model",
            api_key="k",
            cache_dir=cache,
            max_retries=retries,
            backoff_seconds=0.01,
            timeout_seconds=5,
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
        (200, '{"choices": [{"message": {"content": "not json"}}]}'),
        verdict(1.0),
    ]
    judge = make_judge(server.url, tmp_path, retries=3)
    assert judge.factuality("Q", "p", "r", "patient.name") == 1.0
    assert judge.requests == 4 and judge.unscored == 0


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
