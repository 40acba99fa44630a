"""The OpenAPI document: served, a sound 3.x document covering every route, describing
what the service really accepts and answers, and the checked-in copy current."""
from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from service.cli import main
from service.http.app import create_app
from service.http.openapi import build_document, render
from service.vocabulary import vocabulary

from tests.helpers import ROOT, qz_case

COPY = ROOT / "schemas" / "openapi.json"
REGENERATE = "run `python -m service openapi > schemas/openapi.json`"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# paths documented before another module adds them to the app
DOCUMENTED_AHEAD = {"/v1/decisions/{}", "/v1/decisions/{}/replay"}


@pytest.fixture(scope="module")
def app(decider):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAC_DECISION_LOG", "off")
        yield create_app(decider)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def doc(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return json.loads(response.get_data(as_text=True))


def _schema(doc, name) -> Draft202012Validator:
    """A validator for components.schemas[name], its $refs resolved within the document."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", re.sub(r"<(?:[^:>]*:)?[^>]*>", "{}", path))


def test_a_sound_openapi_3_document(doc):
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["paths"] and doc["components"]["schemas"]
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        operations = {k: v for k, v in item.items() if k in METHODS}
        assert operations, path
        for method, operation in operations.items():
            assert operation["responses"], (path, method)
            assert all(re.fullmatch(r"[1-5]\d\d|default", code) for code in operation["responses"])
            operation_ids.append(operation["operationId"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{([^}]+)\}", path)), (path, method)
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"
    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved {ref}"
            node = node[part]
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


def _page(rule) -> bool:
    """Not an API route: static files and the auditor's HTML pages (/ui/…)."""
    return rule.endpoint == "static" or rule.endpoint.startswith("ui.")


def test_every_route_is_documented(app, doc):
    routes = {_normalise(rule.rule) for rule in app.url_map.iter_rules() if not _page(rule)}
    documented = {_normalise(path) for path in doc["paths"]}
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert {"/v1/decisions", "/v1/decisions:batch", "/v1/rulesets", "/v1/rulesets/{}/versions",
            "/v1/rulesets/{}/versions/{}", "/healthz", "/openapi.json"} | DOCUMENTED_AHEAD <= documented
    for rule in app.url_map.iter_rules():
        if _page(rule):
            continue
        [path] = [p for p in doc["paths"] if _normalise(p) == _normalise(rule.rule)]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], f"{method} {rule.rule} undocumented"


def test_every_event_type_is_documented_with_the_vocabulary_docs(doc):
    vocab = vocabulary()
    schemas = doc["components"]["schemas"]
    items = schemas["Case"]["properties"]["events"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert set(items["discriminator"]["mapping"]) == set(vocab.live_events)
    assert len(items["oneOf"]) == len(vocab.live_events)
    assert vocab.retired_events and not set(vocab.retired_events) & set(items["discriminator"]["mapping"])
    for name, event_type in vocab.live_events.items():
        schema = schemas[f"Event_{name}"]
        assert schema["properties"]["type"]["enum"] == [name]
        assert {"id", "type", "date"} <= set(schema["required"])
        assert set(event_type.fields) <= set(schema["properties"])
        if event_type.doc:
            assert schema["description"] == event_type.doc
        for field_name, spec in event_type.fields.items():
            if spec.doc:
                assert spec.doc in schema["properties"][field_name]["description"], (name, field_name)
            if spec.required:
                assert field_name in schema["required"], (name, field_name)
            if spec.type == "enum":
                assert schema["properties"][field_name]["enum"] == list(spec.values)
    for name, spec in vocab.attributes.items():
        if spec.doc:
            assert spec.doc in schemas["Attributes"]["properties"][name]["description"]
    platform = schemas["Event_platform_recognized"]["properties"]
    assert platform["level"]["enum"] == ["national", "regional", "city"]


def test_the_document_describes_what_the_service_accepts(doc):
    case = _schema(doc, "Case")
    good = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True},
                    {"id": "e2", "type": "gazelle_regional_award", "date": "2024-12-05", "amount": "120000.50"},
                    {"id": "e3", "type": "patent_purchased", "date": "2024-01-01", "cost": 80000, "patent_kind": "invention"}],
                   prior_awards=[{"measure": "qz-htz/5", "amount": "1000.00", "date": "2023-01-01"}],
                   options={"lang": "en", "pin": {"qz-htz": "2021-12-30"}})
    assert list(case.iter_errors(good)) == []
    for bad in (
        qz_case([{"id": "e1", "type": "gazelle_regional_award", "date": "2024-12-05", "amount": 1.5}]),  # float money
        qz_case([{"id": "e1", "type": "nonsense", "date": "2024-12-05"}]),  # unknown type
        qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": 1}]),  # 1 is no bool
        qz_case([{"id": "e1", "type": "platform_recognized", "date": "2024-12-05"}]),  # level required
        qz_case([], attributes={"is_unicorn": True}),  # unknown attribute
    ):
        assert list(case.iter_errors(bad)), bad


def test_the_document_describes_what_the_service_answers(client, doc):
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True},
                       {"id": "p1", "type": "platform_recognized", "date": "2026-06-01", "level": "national"}])
    decision = client.post("/v1/decisions", json=payload).get_json()
    assert list(_schema(doc, "Decision").iter_errors(decision)) == []
    problem = client.post("/v1/decisions", json=qz_case([{"id": "e1", "type": "x", "date": "2024-01-01"}])).get_json(force=True)
    assert list(_schema(doc, "Problem").iter_errors(problem)) == []
    batch = client.post("/v1/decisions:batch", json={"cases": [payload, {}]}).get_json()
    assert list(_schema(doc, "BatchResponse").iter_errors(batch)) == []
    assert list(_schema(doc, "BatchRequest").iter_errors({"cases": [payload], "options": {"lang": "en"}})) == []
    for url, name in (("/v1/rulesets", "RulesetList"), ("/v1/rulesets/qz-htz/versions", "VersionList"),
                      ("/v1/rulesets/qz-htz/versions/2021-12-30", "VersionDetail"), ("/healthz", "Health")):
        assert list(_schema(doc, name).iter_errors(client.get(url).get_json())) == [], url


def test_generation_is_deterministic(client):
    served = client.get("/openapi.json").get_data(as_text=True)
    assert served == render(build_document()) == render(build_document())
    assert served == render(json.loads(served)), "keys sorted"


def test_the_checked_in_copy_is_current(client):
    served = client.get("/openapi.json").get_data(as_text=True)
    assert COPY.is_file(), f"schemas/openapi.json is missing: {REGENERATE}"
    assert COPY.read_text(encoding="utf-8") == served, f"schemas/openapi.json is stale: {REGENERATE}"


def test_cli_prints_the_document(capsysbinary):
    assert main(["openapi"]) == 0
    assert capsysbinary.readouterr().out.decode("utf-8") == render(build_document())
