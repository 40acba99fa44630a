"""One Decider and one CaseValidator for the whole session: building them
loads and compiles every ruleset."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from service.decide import Decider
from service.validate.request import CaseValidator

# Deterministic property tests: same examples on every run, no example database.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def decider() -> Decider:
    return Decider()


@pytest.fixture(scope="session")
def validator(decider) -> CaseValidator:
    return CaseValidator(decider.vocab)
