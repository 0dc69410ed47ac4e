"""An LLM factuality judge for any OpenAI-compatible chat-completions endpoint.

The rubric prompt is pinned and versioned; verdicts are cached on disk keyed by the SHA-256 of
(model, prompt), so rescoring is free and reproducible. A verdict that cannot be obtained after
the retries is None: the item is *unscored* and counted as such, never a silent 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import BaseModel, Field

JUDGE_NAME = "llm"
RUBRIC_VERSION = "medforget-factuality-rubric-v1"
RUBRIC = """You are grading a model's answer about a chest X-ray study against the reference answer.
Score FACTUAL agreement only, ignoring wording and style:
- clinical findings must agree in presence or absence (a negated finding is not the finding);
- identity facts (names, dates, record numbers, hospitals) must match exactly;
- invented findings or facts lower the score.
Reply with JSON only: {"score": <number between 0 and 1>}.

Question: {question}
Reference answer: {reference}
Model answer: {prediction}"""


class LLMJudgeConfig(BaseModel):
    base_url: str = Field(default_factory=lambda: os.environ.get("MEDFORGET_JUDGE_BASE_URL", ""))
    model: str = Field(default_factory=lambda: os.environ.get("MEDFORGET_JUDGE_MODEL", ""))
    api_key: str = Field(default_factory=lambda: os.environ.get("MEDFORGET_JUDGE_API_KEY", ""), repr=False)
    cache_dir: Path | None = None
    max_retries: int = 4
    backoff_seconds: float = 1.0  # doubled after each failed try
    timeout_seconds: float = 60.0


class VerdictError(Exception):
    """One failed try: a transport error, an HTTP error or an unreadable verdict."""


def parse_verdict(content: str) -> float:
    """The score of a reply like '{"score": 0.5}' (code fences tolerated); raises VerdictError."""
    text = content.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        score = float(json.loads(text)["score"])
    except (ValueError, KeyError, TypeError) as error:
        raise VerdictError(f"unreadable verdict: {content[:80]!r}") from error
    if not 0.0 <= score <= 1.0:
        raise VerdictError(f"verdict out of [0, 1]: {score}")
    return score


class LLMJudge:
    name = JUDGE_NAME
    version = RUBRIC_VERSION

    def __init__(self, config: LLMJudgeConfig | None = None) -> None:
        self.config = config or LLMJudgeConfig()
        if not self.config.base_url or not self.config.model:
            from medforget_data.errors import MedForgetError

            raise MedForgetError(
                "the llm judge needs a base URL and a model (--judge-base-url/--judge-model or "
                "MEDFORGET_JUDGE_BASE_URL/MEDFORGET_JUDGE_MODEL)"
            )
        if self.config.cache_dir is None:
            from medforget_data.loading import cache_root

            self.config = self.config.model_copy(update={"cache_dir": cache_root() / "judge"})
        self.requests = 0  # HTTP requests sent (tests read it to see cache hits)
        self.unscored = 0

    def prompt(self, question: str, prediction: str, reference: str) -> str:
        return (
            RUBRIC.replace("{question}", question)
            .replace("{reference}", reference)
            .replace("{prediction}", prediction)
        )

    def _cache_path(self, prompt: str) -> Path:
        key = hashlib.sha256(f"{RUBRIC_VERSION}\0{self.config.model}\0{prompt}".encode()).hexdigest()
        assert self.config.cache_dir is not None
        return self.config.cache_dir / key[:2] / f"{key}.json"

    def _ask(self, prompt: str) -> float:
        body = json.dumps(
            {"model": self.config.model, "temperature": 0, "messages": [{"role": "user", "content": prompt}]}
        ).encode()
        request = urllib.request.Request(
            self.config.base_url.rstrip("/") + "/chat/completions",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.config.api_key}"},
        )
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise VerdictError(f"HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as error:
            raise VerdictError(f"{type(error).__name__}: {error}") from None
        try:
            return parse_verdict(payload["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as error:
            raise VerdictError("reply has no choices[0].message.content") from error

    def factuality(self, question: str, prediction: str, reference: str, fact: str) -> float | None:
        prompt = self.prompt(question, prediction, reference)
        cached = self._cache_path(prompt)
        if cached.is_file():
            return float(json.loads(cached.read_text())["score"])
        delay = self.config.backoff_seconds
        for attempt in range(self.config.max_retries + 1):
            try:
                score = self._ask(prompt)
            except VerdictError:
                if attempt == self.config.max_retries:
                    self.unscored += 1
                    return None
                time.sleep(delay)
                delay *= 2
                continue
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_suffix(".tmp")
            temporary.write_text(
                json.dumps({"score": score, "rubric": RUBRIC_VERSION, "model": self.config.model})
            )
            temporary.replace(cached)
            return score
        return None
