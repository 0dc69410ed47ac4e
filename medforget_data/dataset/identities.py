"""Synthetic identities (hospitals, health systems, patients, dates) from a seeded Faker.

Dates are drawn between fixed bounds, never relative to today, so a build is the same
on any day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from faker import Faker

_HOSPITAL_KINDS = (
    "General Hospital",
    "Medical Center",
    "Memorial Hospital",
    "Regional Hospital",
    "University Hospital",
    "Community Hospital",
)
BIRTH_RANGE = (dt.date(1935, 1, 1), dt.date(2002, 12, 31))
STUDY_RANGE = (dt.date(2012, 1, 1), dt.date(2020, 12, 31))


class IdentityFactory:
    """Unique, seeded identities. One factory per build; calls must come in a fixed order.

    `reserved` values are never handed out (a pretraining corpus reserves the benchmark's names, MRNs
    and dates); with none reserved every draw is the first, so a benchmark build is unchanged by it.
    """

    def __init__(self, seed: int | str, reserved: frozenset[str] = frozenset()) -> None:
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)  # a str seed is digested by random.seed, never by hash()
        self.reserved = reserved
        self._names: set[str] = set()

    def _fresh(self, draw: Callable[[], str]) -> str:
        while True:
            value = draw()
            if value not in self.reserved:
                return value

    def health_system(self) -> str:
        return self._fresh(lambda: self.fake.unique.company().replace(",", "") + " Health")

    def hospital(self) -> str:
        def draw() -> str:
            kind = _HOSPITAL_KINDS[self.fake.random_int(0, len(_HOSPITAL_KINDS) - 1)]
            return self.fake.unique.city() + " " + kind

        return self._fresh(draw)

    def sex(self) -> str:
        return self.fake.random_element(("female", "male"))

    def person_name(self, sex: str) -> str:
        # Full names are unique within a build, so a name question has one answer.
        while True:
            first = self.fake.first_name_female() if sex == "female" else self.fake.first_name_male()
            name = f"{first} {self.fake.last_name()}"
            if name not in self._names and name not in self.reserved:
                self._names.add(name)
                return name

    def birth_date(self) -> str:
        return self._fresh(lambda: self.fake.date_between_dates(*BIRTH_RANGE).isoformat())

    def mrn(self) -> str:
        return self._fresh(lambda: self.fake.unique.numerify("MRN-########"))

    def study_dates(self, count: int) -> list[str]:
        """`count` distinct dates in chronological order."""
        dates: set[dt.date] = set()
        while len(dates) < count:
            date = self.fake.date_between_dates(*STUDY_RANGE)
            if date.isoformat() not in self.reserved:
                dates.add(date)
        return [date.isoformat() for date in sorted(dates)]
