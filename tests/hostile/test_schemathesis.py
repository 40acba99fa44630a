"""schemathesis against GET /openapi.json of the Flask app: positive and negative cases
of every operation, a fixed seed (the suite's derandomized hypothesis profile), and
no answer may be a 5xx or break the documented response schema."""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.http.app import create_app
from service.http.openapi import build_document
from tests.hostile.figures import record

CHECKS = [not_a_server_error, response_schema_conformance]
DECIDE_EXAMPLES = 700    # POST /v1/decisions: where the hostile input goes
OTHER_EXAMPLES = 60      # every other operation
REQUESTS: dict[str, int] = {}


class LazyApp:
    """The WSGI app, built on the first request: collecting this file compiles no ruleset."""
    app = None

    def __call__(self, environ, start_response):
        if LazyApp.app is None:
            LazyApp.app = create_app()
        return LazyApp.app(environ, start_response)


# the document served at /openapi.json (test_the_document_is_the_one_served checks it is)
DOCUMENT = build_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.app = LazyApp()
schema.location = "/openapi.json"


def call(case) -> None:
    REQUESTS[case.operation.label] = REQUESTS.get(case.operation.label, 0) + 1
    case.call_and_validate(checks=CHECKS)


@schema.include(operation_id="decide").parametrize()
@settings(max_examples=DECIDE_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_decide_answers_no_5xx_and_as_documented(case):
    call(case)


@schema.exclude(operation_id="decide").parametrize()
@settings(max_examples=OTHER_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_other_operation_answers_no_5xx_and_as_documented(case):
    call(case)


def test_the_document_is_the_one_served():
    client = LazyApp.app.test_client() if LazyApp.app else create_app().test_client()
    assert client.get("/openapi.json").get_json() == DOCUMENT


def test_requests_were_sent():
    """Runs after the two above (file order): how many requests each operation got."""
    for label, count in sorted(REQUESTS.items()):
        record("schemathesis", f"{label}: {count} requests", 0.0)
    assert sum(REQUESTS.values()) > 0
