"""An LLM factuality judge for any OpenAI-compatible chat-completions endpoint.

The rubric prompt is pinned and versioned; verdicts are cached on disk keyed by the SHA-256 of
(rubric version, model, prompt), so rescoring is free and reproducible. A verdict that cannot be
obtained after the retries is None: the item is *unscored* and counted as such, never a silent 0.

An endpoint that is down is not retried for every remaining item: after `max_consecutive_failures`
items in a row get no verdict the judge stops asking. If it never gave a verdict at all it raises
a one-line MedForgetError (a misconfigured URL, key or model should not yield a results file full of
unscored items); otherwise the remaining items are unscored.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medforget_data.errors import MedForgetError
from medforget_data.io import write_json

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

ENV_BASE_URL = "MEDFORGET_JUDGE_BASE_URL"
ENV_MODEL = "MEDFORGET_JUDGE_MODEL"
ENV_API_KEY = "MEDFORGET_JUDGE_API_KEY"
# HTTP statuses worth another try; anything else (401, 404, …) is a configuration error.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class LLMJudgeConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str = Field(default_factory=lambda: os.environ.get(ENV_BASE_URL, ""))

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urllib.parse.urlparse(value)
        if value and (parsed.scheme not in ("http", "https") or not parsed.netloc):
            raise ValueError(f"{value!r} is not an http(s):// URL")
        return value

    model: str = Field(default_factory=lambda: os.environ.get(ENV_MODEL, ""))
    api_key: str = Field(default_factory=lambda: os.environ.get(ENV_API_KEY, ""), repr=False)
    cache_dir: Path | None = None  # default: <medforget cache>/judge
    max_retries: int = Field(default=4, ge=0)
    backoff_seconds: float = Field(default=1.0, ge=0)  # doubled after each failed try
    max_backoff_seconds: float = Field(default=30.0, ge=0)  # also caps a server's Retry-After
    timeout_seconds: float = Field(default=30.0, gt=0)  # connect + read, per request
    # The most one verdict may take, all tries and waits together; an endpoint that accepts
    # connections and never answers costs this long, then the run stops with one line.
    deadline_seconds: float = Field(default=120.0, gt=0)
    max_consecutive_failures: int = Field(default=5, ge=1)
    concurrency: int = Field(default=4, ge=1)  # requests in flight during `prefetch`


class VerdictError(Exception):
    """One failed try: a transport error, a retryable HTTP error or an unreadable verdict."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None


class LLMJudge:
    name = JUDGE_NAME
    version = RUBRIC_VERSION

    def __init__(self, config: LLMJudgeConfig | None = None) -> None:
        config = config or LLMJudgeConfig()
        if not config.base_url or not config.model:
            raise MedForgetError(
                "the llm judge needs a base URL and a model (--judge-base-url/--judge-model or "
                f"{ENV_BASE_URL}/{ENV_MODEL})"
            )
        if config.cache_dir is None:
            from medforget_data.dataset.load import cache_root

            config = config.model_copy(update={"cache_dir": cache_root() / "judge"})
        self.config = config
        self.requests = 0  # HTTP requests sent (tests read it to see cache hits)
        self.verdicts = 0  # verdicts obtained, from the endpoint or the cache
        self.unscored = 0
        self.last_error = ""
        self._failures_in_a_row = 0
        self._fatal = ""  # set once the endpoint is judged unusable: no thread asks it again
        self._memo: dict[str, float | None] = {}  # prompt -> verdict of this run (None: unscored)
        self._lock = threading.Lock()  # counters and memo are shared by prefetch's threads

    @property
    def tripped(self) -> bool:
        """True once the endpoint has failed for enough items in a row that asking again is futile."""
        return self._failures_in_a_row >= self.config.max_consecutive_failures

    def prompt(self, question: str, prediction: str, reference: str) -> str:
        return (
            RUBRIC.replace("{question}", question)
            .replace("{reference}", reference)
            .replace("{prediction}", prediction)
        )

    def cache_path(self, prompt: str) -> Path:
        key = hashlib.sha256(f"{RUBRIC_VERSION}\0{self.config.model}\0{prompt}".encode()).hexdigest()
        assert self.config.cache_dir is not None
        return self.config.cache_dir / key[:2] / f"{key}.json"

    def _ask(self, prompt: str, timeout: float | None = None) -> float:
        body = json.dumps(
            {"model": self.config.model, "temperature": 0, "messages": [{"role": "user", "content": prompt}]}
        ).encode()
        request = urllib.request.Request(
            self.config.base_url.rstrip("/") + "/chat/completions",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.config.api_key}"},
        )
        with self._lock:
            self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.config.timeout_seconds) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            if error.code not in RETRYABLE_STATUSES:
                raise MedForgetError(
                    f"llm judge {self.config.base_url} answered HTTP {error.code} {error.reason}; "
                    "check the base URL, model and API key"
                ) from None
            raise VerdictError(f"HTTP {error.code}", retry_after=_retry_after(error)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as error:
            raise VerdictError(f"{type(error).__name__}: {error}") from None
        try:
            return parse_verdict(payload["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as error:
            raise VerdictError("reply has no choices[0].message.content") from error

    def _read_cache(self, path: Path) -> float | None:
        try:
            return parse_verdict(path.read_text(encoding="utf-8"))
        except (OSError, VerdictError):  # absent or damaged: ask again
            return None

    def _write_cache(self, path: Path, score: float) -> None:
        # Atomic with a unique temporary name: two scorers sharing the cache never interleave writes.
        write_json(path, {"score": score, "rubric": RUBRIC_VERSION, "model": self.config.model})

    def _give_up(self, deadline_passed: bool = False) -> None:
        with self._lock:
            self.unscored += 1
            self._failures_in_a_row += 1
            # never a verdict and one item already took the whole deadline: the endpoint is not
            # answering, and asking for more items would only multiply the wait
            fatal = (self.tripped or deadline_passed) and not self.verdicts
        if fatal:
            self._fatal = (
                f"llm judge {self.config.base_url} gave no verdict for the first "
                f"{self._failures_in_a_row} items (last error: {self.last_error})"
            )
            raise MedForgetError(self._fatal)

    def _obtain(self, prompt: str) -> float | None:
        """A verdict from the disk cache or the endpoint (with retries), or None."""
        if self._fatal:  # another thread found the endpoint unusable: stop, do not ask it again
            raise MedForgetError(self._fatal)
        cached = self.cache_path(prompt)
        if (score := self._read_cache(cached)) is not None:
            with self._lock:
                self.verdicts += 1
            return score
        if self.tripped:
            with self._lock:
                self.unscored += 1
            return None
        delay = self.config.backoff_seconds
        deadline = time.monotonic() + self.config.deadline_seconds
        for attempt in range(self.config.max_retries + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                self.last_error = f"no verdict within the {self.config.deadline_seconds:g} s deadline"
                break
            try:
                score = self._ask(prompt, timeout=min(self.config.timeout_seconds, left))
            except VerdictError as error:
                self.last_error = str(error)
                if attempt == self.config.max_retries:
                    break
                wait = delay if error.retry_after is None else max(delay, error.retry_after)
                time.sleep(max(0.0, min(wait, self.config.max_backoff_seconds, deadline - time.monotonic())))
                delay *= 2
                continue
            self._write_cache(cached, score)
            with self._lock:
                self.verdicts += 1
                self._failures_in_a_row = 0
            return score
        self._give_up(deadline_passed=time.monotonic() >= deadline)
        return None

    def _verdict(self, prompt: str) -> float | None:
        if prompt not in self._memo:
            self._memo[prompt] = self._obtain(prompt)
        return self._memo[prompt]

    def prefetch(self, requests: Iterable[tuple[str, str, str, str]]) -> None:
        """Obtain the verdicts of many (question, prediction, reference, fact) at once, in parallel.

        The scorer calls this before scoring item by item, which then reads the verdicts from memory.
        """
        prompts = [self.prompt(q, p, r) for q, p, r, _ in requests]
        todo = [prompt for prompt in dict.fromkeys(prompts) if prompt not in self._memo]
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = [pool.submit(self._verdict, prompt) for prompt in todo]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def factuality(self, question: str, prediction: str, reference: str, fact: str) -> float | None:
        return self._verdict(self.prompt(question, prediction, reference))
