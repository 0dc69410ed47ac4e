"""The judge registry: a name on the command line → a factuality judge."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from medforget_data.errors import MedForgetError, check_choice
from medforget_data.scoring.judge_llm import JUDGE_NAME as LLM
from medforget_data.scoring.judge_llm import LLMJudge, LLMJudgeConfig
from medforget_data.scoring.judge_offline import JUDGE_NAME as OFFLINE
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.score import Judge

JUDGE_NAMES: tuple[str, ...] = (OFFLINE, LLM)


def make_judge(
    name: str = OFFLINE,
    base_url: str | None = None,
    model: str | None = None,
    cache_dir: Path | None = None,
    retries: int | None = None,
    backoff_seconds: float | None = None,
    concurrency: int | None = None,
) -> Judge:
    """The offline judge, or the LLM judge with arguments overriding its environment variables."""
    check_choice("judge", name, JUDGE_NAMES)
    if name == OFFLINE:
        return OfflineJudge()
    given = {
        "base_url": base_url,
        "model": model,
        "cache_dir": cache_dir,
        "max_retries": retries,
        "backoff_seconds": backoff_seconds,
        "concurrency": concurrency,
    }
    overrides = {key: value for key, value in given.items() if value is not None and value != ""}
    try:
        config = LLMJudgeConfig(**overrides)
    except ValidationError as error:
        detail = error.errors()[0]
        raise MedForgetError(f"llm judge {detail['loc'][0]}: {detail['msg']}") from None
    return LLMJudge(config)
