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
    return CaseValidator(decider.vocab, decider.registry)


@pytest.fixture(scope="session", autouse=True)
def _decision_log_in_tmp(tmp_path_factory):
    """Test runs never write to the repository's data/ folder, nor to a configured database."""
    saved = {k: os.environ.get(k) for k in ("RAC_DECISION_LOG", "DATABASE_URL")}
    os.environ["RAC_DECISION_LOG"] = str(tmp_path_factory.mktemp("log") / "decisions.sqlite3")
    os.environ.pop("DATABASE_URL", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
