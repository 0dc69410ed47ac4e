"""Answer normalisation and multiple-choice parsing (design §9), one definition each."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from medforget_data.constants import OPTION_LETTERS

_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_LETTERS = "".join(OPTION_LETTERS)
# "B", "(B)", "B)", "B.", "b:" alone, or followed by text: "B) cardiomegaly".
_LETTER_ONLY = re.compile(rf"^\(?([{_LETTERS}])\s*[).:]?$", re.IGNORECASE)
_LETTER_LEAD = re.compile(rf"^\(?([{_LETTERS}])\s*[).:]\s+(.+)$", re.IGNORECASE | re.DOTALL)
# "The answer is B", "Answer: B", "Correct option - B": a lead-in that names no option.
_PREAMBLE = re.compile(
    r"^(?:the\s+)?(?:correct\s+|best\s+|final\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s+",
    re.IGNORECASE,
)
_LETTER_MENTION = re.compile(rf"(?:^|\s|\()([{_LETTERS}])\)", re.IGNORECASE)


def normalise(text: str) -> str:
    """Unicode NFKC, lower case, punctuation to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


def parse_option(prediction: str, options: Sequence[str]) -> str | None:
    """The option letter a prediction names, or None when it names none or more than one.

    Accepted: a letter alone (`B`, `B)`, `(b)`), a letter with its option text (`b) cardiomegaly`),
    or the option text alone (`Cardiomegaly.`), each optionally after a lead-in
    (`The answer is B`). A letter whose text names another option, two
    letters, or text containing two options is ambiguous and reads as None (scored wrong).
    """
    text = _PREAMBLE.sub("", prediction.strip(), count=1)
    letters = OPTION_LETTERS[: len(options)]
    normalised_options = [normalise(option) for option in options]
    if match := _LETTER_ONLY.match(text):
        letter = match.group(1).upper()
        return letter if letter in letters else None
    if len({m.upper() for m in _LETTER_MENTION.findall(text)}) > 1:
        return None
    if match := _LETTER_LEAD.match(text):
        letter = match.group(1).upper()
        if letter not in letters:
            return None
        return letter if set(_named(normalise(match.group(2)), normalised_options)) <= {letter} else None
    body = normalise(text)
    exact = [letters[i] for i, option in enumerate(normalised_options) if option == body]
    if len(exact) == 1:
        return exact[0]
    named = _named(body, normalised_options)
    return named[0] if len(named) == 1 else None


def _named(body: str, normalised_options: Sequence[str]) -> list[str]:
    """Letters of the options a text names; an option inside another named one ("PA" in "PA and
    lateral") does not count separately."""
    letters = OPTION_LETTERS[: len(normalised_options)]
    named = [i for i, option in enumerate(normalised_options) if _contains(body, option)]
    return [
        letters[i]
        for i in named
        if not any(j != i and _contains(normalised_options[j], normalised_options[i]) for j in named)
    ]
