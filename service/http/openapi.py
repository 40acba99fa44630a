"""The OpenAPI 3.1 document: request schemas generated from the marshmallow
schemas (``service/validate/request.py``, built from ``schemas/vocabulary.yaml``)
by apispec, the responses written by hand. Served at GET /openapi.json;
``python -m service openapi > schemas/openapi.json`` keeps the checked-in copy.

Deterministic: the same vocabulary and schemas give the same bytes (sorted keys).
"""
from __future__ import annotations

import copy
import json

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Response

from .. import __version__
from ..paths import SCHEMAS_DIR
from ..validate import limits
from ..validate.request import MAX_EVENTS, CaseValidator, Money, Rate, StrictBool, StrictDate
from ..auth.policy import ADMIN, required_role
from .batch_routes import MAX_BATCH
from .problems import PROBLEM_TYPE

OPENAPI_VERSION = "3.1.0"
MONEY_PATTERN = limits.money_pattern()
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# the nested schemas of the case get these component names; anything else stays inline
_NESTED = ("Applicant", "Attributes", "Incident", "PriorAward", "Options")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _custom_fields(self, field, **kwargs) -> dict:
    if isinstance(field, Money):
        return {"oneOf": [{"type": "string", "pattern": MONEY_PATTERN},
                          {"type": "integer", "minimum": 0, "maximum": limits.MAX_MONEY_YUAN}],
                "description": "money: a decimal string with at most two decimals (\"200000.00\") or an integer of yuan, "
                               f"ASCII digits, at most {limits.MONEY_INTEGER_DIGITS} of them before the point; "
                               "a JSON number with a fraction is refused (400), never rounded"}
    if isinstance(field, Rate):
        bound = 10**limits.DECIMAL_INTEGER_DIGITS - 1
        return {"oneOf": [{"type": "string", "pattern": limits.decimal_pattern()},
                          {"type": "integer", "minimum": -bound, "maximum": bound}],
                "description": f"a decimal string, at most {limits.DECIMAL_INTEGER_DIGITS} integer digits and "
                               f"{limits.DECIMAL_DECIMALS} decimals (\"7.1234\")"}
    if isinstance(field, StrictDate):
        return {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    if isinstance(field, StrictBool):
        return {"type": "boolean"}
    return {}


def _event_name(name: str) -> str:
    return f"Event_{name}"


def build_document(validator: CaseValidator | None = None) -> dict:
    validator = validator or CaseValidator()
    vocab = validator.vocab
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: _schema_class(schema).__name__
                               if _schema_class(schema).__name__ in _NESTED else None)
    spec = APISpec(
        title="gx-zones-rules",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": "Rules-as-code decisions on the Guangxi zone measures: which rewards, subsidies, "
                             "tax preferences, referrals or sanctions the law gives a case, how much, on which "
                             "article, and why not the others. Errors are application/problem+json (RFC 9457)."},
    )
    plugin.converter.add_attribute_function(_custom_fields)

    spec.components.schema("Case", schema=validator.case_schema)
    for name in sorted(validator.event_schemas):
        spec.components.schema(_event_name(name), schema=validator.event_schemas[name])
    doc = spec.to_dict()
    schemas = doc["components"]["schemas"]
    _describe_request(schemas, vocab)
    schemas.update(copy.deepcopy(_RESPONSE_SCHEMAS))
    schemas["Outcome"]["properties"]["kind"]["enum"] = _outcome_kinds()
    doc["components"]["responses"] = _problem_responses()
    doc["paths"] = _paths()
    _secure(doc)
    doc["x-limits"] = _limits()
    doc["tags"] = [{"name": "decisions", "description": "decide cases"},
                   {"name": "rulesets", "description": "the law the service holds, and its history"},
                   {"name": "service", "description": "health and this document"}]
    return json.loads(render(doc))  # plain JSON types, keys sorted


def _limits() -> dict:
    """Every bound on a request (service/validate/limits.py); each is refused with a 400 or 413 naming it."""
    return {
        "body_bytes": {"max": limits.DEFAULT_MAX_BODY, "status": 413,
                       "description": "RAC_MAX_BODY; a Content-Length or chunked body one byte longer is refused whole"},
        "json_depth": {"max": limits.MAX_DEPTH, "status": 400, "description": "nesting of objects and arrays"},
        "json_members": {"max": limits.MAX_MEMBERS, "status": 400, "description": "members of one object"},
        "json_items": {"max": limits.MAX_ITEMS, "status": 400, "description": "items of one array"},
        "json_string": {"max": limits.MAX_STRING, "status": 400, "description": "characters of a string or key"},
        "json_number_chars": {"max": limits.MAX_NUMBER_CHARS, "status": 400, "description": "characters of a number"},
        "json_integer": {"max": limits.MAX_JSON_INTEGER, "status": 400,
                         "description": "magnitude of a JSON integer (I-JSON); NaN, Infinity, duplicate keys and lone "
                                        "surrogates are refused too, and a charset other than UTF-8 is a 415"},
        "events": {"max": limits.MAX_EVENTS, "status": 400},
        "prior_awards": {"max": limits.MAX_PRIOR_AWARDS, "status": 400},
        "incidents": {"max": limits.MAX_INCIDENTS, "status": 400},
        "pins": {"max": limits.MAX_PINS, "status": 400},
        "money_digits": {"max": limits.MONEY_INTEGER_DIGITS, "status": 400,
                         "description": f"integer digits of yuan; at most {limits.MONEY_DECIMALS} decimals"},
        "decimal_digits": {"max": limits.DECIMAL_INTEGER_DIGITS, "status": 400,
                           "description": f"integer digits of a rate or share; at most {limits.DECIMAL_DECIMALS} decimals"},
        "int": {"min": limits.MIN_INT, "max": limits.MAX_INT, "status": 400, "description": "ranks, list sizes, counts"},
        "year": {"min": limits.MIN_YEAR, "max": limits.MAX_YEAR, "status": 400},
        "id_chars": {"max": limits.MAX_ID, "status": 400,
                     "description": "case, event, project, platform, credit-code ids; pin keys and values"},
        "name_chars": {"max": limits.MAX_NAME, "status": 400, "description": "names and free-text strings"},
        "errors": {"max": limits.MAX_ERRORS, "description": "errors[] listed; errors_omitted counts the rest"},
        "echo_chars": {"max": limits.MAX_ECHO, "description": "characters of a value or key quoted back, cut with …"},
    }


def render(doc: dict) -> str:
    """The document as the bytes served and checked in: sorted keys, two-space indent, UTF-8."""
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _outcome_kinds() -> list[str]:
    schema = json.loads((SCHEMAS_DIR / "ruleset.schema.json").read_text(encoding="utf-8"))
    return list(schema["$defs"]["measure"]["properties"]["outcome"]["properties"]["kind"]["enum"])


def _schema_class(schema):
    return schema if isinstance(schema, type) else type(schema)


def _describe_request(schemas: dict, vocab) -> None:
    """Add what apispec cannot see: the vocabulary's doc strings, the event union, the incident names."""
    case = schemas["Case"]
    case["description"] = "A case: an applicant (enterprise or zone) and what happened to it (POST /v1/decisions)."
    case["properties"]["events"]["items"] = {
        "oneOf": [_ref(_event_name(name)) for name in sorted(vocab.live_events)],
        "discriminator": {"propertyName": "type",
                          "mapping": {name: f"#/components/schemas/{_event_name(name)}" for name in sorted(vocab.live_events)}},
    }
    case["properties"]["events"]["description"] = ("the legal facts, each with id (unique in the case), type and date; "
                                                   f"at most {MAX_EVENTS}; an unknown type is a 400 listing the known ones")
    case["properties"]["prior_awards"]["description"] = "awards already received, counted against caps and stacking groups"
    prior = schemas["PriorAward"]["properties"]
    for field_name, text in {
            "measure": "a registered measure id; an unknown one is a 400 naming the closest",
            "date": "the day it was paid: a record only, never the year a cap files it under",
            "year": ("the year of the fact it paid (the event year a new claim on that fact would have); "
                     "required where a cap or stacking group of the measure is per year or per run of years"),
            "project_id": "the project it paid; required where a cap or group of the measure is per project",
            "platform_id": "the platform it paid; required where a cap or group of the measure is per platform"}.items():
        _describe(prior[field_name], text)
    attributes = schemas["Attributes"]
    attributes["description"] = ("Facts about the applicant that the eligibility articles test. An absent "
                                 "attribute is not false: a rule that reads it is denied missing_data naming it "
                                 "(revision-1 encodings, absent_facts: read_as_false, read it as false).")
    for name, spec in vocab.attributes.items():
        if spec.doc:
            _describe(attributes["properties"][name], spec.doc)
    incident_type = schemas["Incident"]["properties"]["type"]
    incident_type["description"] = "; ".join(f"{k}: {v}" for k, v in vocab.incident_types.items())
    schemas["Incident"]["properties"]["grade"]["description"] = "lowest first: " + ", ".join(vocab.grades)
    options = schemas["Options"]["properties"]
    options["pin"]["description"] = "policy id → version: judge every event of that policy by this version (replay)"
    options["pin"]["maxProperties"] = options["pin"].pop("maxLength")  # apispec states a Dict's Length as a string's
    options["pin"]["propertyNames"] = {"maxLength": limits.MAX_ID}
    options["include_drafts"]["description"] = "also judge by draft versions; their outcomes are what_if and never in totals"
    options["explain"]["description"] = "add the trace of the rules that fired and the derivation of each outcome, denial and inapplicable entry"
    common = {"id": "unique in the case; echoed in outcomes and denials", "date": "YYYY-MM-DD",
              "project_id": "identifies a project across events and prior awards"}
    for name, event_type in vocab.live_events.items():
        schema = schemas[_event_name(name)]
        schema["title"] = name
        if event_type.doc:
            schema["description"] = event_type.doc
        props = schema["properties"]
        props["type"] = {"type": "string", "enum": [name], "description": "the event type"}
        for field_name, text in common.items():
            _describe(props[field_name], text)
        for field_name, spec in event_type.fields.items():
            if spec.doc:
                _describe(props[field_name], spec.doc)


def _describe(prop: dict, text: str) -> None:
    prop["description"] = f"{text} — {prop['description']}" if prop.get("description") else text


def _problem_responses() -> dict:
    def response(description):
        return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}

    return {
        "InvalidCase": response("invalid case: every invalid field in errors[]"),
        "UnknownRuleset": response("unknown policy or version"),
        "TooLarge": response("body over RAC_MAX_BODY bytes (default 1,000,000), with a Content-Length or chunked"),
        "UnsupportedMediaType": response("body not sent as application/json, or in a charset other than UTF-8"),
        "BodyTimeout": response("body not received whole within RAC_BODY_TIMEOUT seconds (default 5); the connection is closed"),
        "InternalError": response("a bug; quote decision_id, nothing else is leaked"),
        "MethodNotAllowed": response("method not allowed"),
        "UnknownDecision": response("no decision with this id in the decision log"),
        "LogOff": response("this deployment keeps no decision log (RAC_DECISION_LOG=off)"),
        "LogUnavailable": response("the decision log could not be read; retry"),
        "InvalidQuery": response("a query parameter that cannot be used: every one in errors[]"),
        "NotLogged": response("the decision was made but could not be logged, so it is not served; retry"),
    }


_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _secure(doc: dict) -> None:
    """The bearer scheme, and on each operation the role it needs (service/auth/policy.py decides,
    so the document cannot drift from what is enforced): ``security`` and its 401/403, or ``security: []``."""
    doc["components"]["securitySchemes"] = {"bearerAuth": {
        "type": "http", "scheme": "bearer",
        "description": "An API key (rac_…, RAC_API_KEYS_FILE / RAC_API_KEYS, stored as its sha256) or a JWT "
                       "(RAC_JWT_PUBLIC_KEY / RAC_JWKS_FILE; issuer, audience and expiry checked; roles in "
                       "RAC_JWT_ROLES_CLAIM). Required only when the deployment configures credentials. Roles: "
                       "submitter (decide), auditor (read, replay, explain, verify), admin (everything). "
                       "A malformed Authorization header is a 400 invalid_request (RFC 6750)."}}
    challenge = {"WWW-Authenticate": {"schema": {"type": "string"},
                                      "description": 'RFC 6750: Bearer realm="gx-zones-rules"[, error="…"][, scope="role"]'}}
    for name, description in (("Unauthorized", "no bearer token, or one not accepted (error=\"invalid_token\"); "
                                               "why is never said"),
                              ("Forbidden", "the token is accepted but lacks the role the operation needs "
                                            "(error=\"insufficient_scope\", scope names the role)")):
        doc["components"]["responses"][name] = {
            "description": description, "headers": challenge,
            "content": {"application/problem+json": {"schema": _ref("Problem")}}}
    for path, item in doc["paths"].items():
        rule = path.replace("{", "<").replace("}", ">")
        for method, operation in item.items():
            if method not in _METHODS:  # path-level parameters, summary
                continue
            role = required_role(method.upper(), rule)
            if role is None:
                operation["security"] = []
                continue
            operation["security"] = [{"bearerAuth": []}]
            operation["x-roles"] = sorted({role, ADMIN})
            operation["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
            operation["responses"]["403"] = {"$ref": "#/components/responses/Forbidden"}


def _json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(*names: str) -> dict:
    codes = {"InvalidCase": "400", "UnknownRuleset": "404", "BodyTimeout": "408", "TooLarge": "413", "UnsupportedMediaType": "415",
             "InternalError": "500", "UnknownDecision": "404", "LogOff": "501", "LogUnavailable": "503",
             "NotLogged": "503", "InvalidQuery": "400"}
    return {codes[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


def _list_parameters() -> list[dict]:
    from ..log.search import MAX_LIMIT, DEFAULT_LIMIT, OUTCOMES

    def query(name, schema, text):
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}

    instant = {"type": "string", "description": "a date (YYYY-MM-DD) or an ISO datetime (naive: UTC)"}
    return [
        query("case_id", {"type": "string"}, "the case_id of the request"),
        query("from", instant, "logged at or after (a date: from its start)"),
        query("to", instant, "logged at or before (a date: to its end)"),
        query("measure", {"type": "string"}, "a measure id: decisions in which it has the outcome asked for"),
        query("outcome", {"type": "string", "enum": list(OUTCOMES), "default": "granted"},
              "with measure: granted (default), denied, or inapplicable"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
              "records per page"),
        query("cursor", {"type": "string", "pattern": "^[0-9]+$"}, "next_cursor of the previous page"),
    ]


def _paths() -> dict:
    policy = {"name": "policy", "in": "path", "required": True, "schema": {"type": "string"}, "example": "qz-htz"}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}, "example": "2021-12-30"}
    decision_id = {"name": "decision_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"},
                   "description": "the decision_id of a decision"}
    return {
        "/v1/decisions": {"post": {
            "tags": ["decisions"], "operationId": "decide", "summary": "Decide one case",
            "requestBody": {"required": True, "content": _json_content(_ref("Case"))},
            "responses": {"200": {"description": "the decision", "content": _json_content(_ref("Decision"))},
                          **_errors("InvalidCase", "UnknownRuleset", "BodyTimeout", "TooLarge", "UnsupportedMediaType",
                                    "InternalError", "NotLogged")},
        },
        "get": {
            "tags": ["decisions"], "operationId": "listDecisions", "summary": "Find logged decisions",
            "description": ("The decision log's search index, newest first, keyset-paged: pass next_cursor as cursor "
                            "for the next page (a page costs the same at any depth). Filters combine (AND). "
                            "index.complete is false while records logged before the index await "
                            "`python -m service.log.search backfill`. Wants the auditor role."),
            "parameters": _list_parameters(),
            "responses": {"200": {"description": "a page of logged decisions", "content": _json_content(_ref("DecisionList"))},
                          **_errors("InvalidQuery", "LogOff", "LogUnavailable", "InternalError")},
        }},
        "/v1/decisions:batch": {"post": {
            "tags": ["decisions"], "operationId": "decideBatch", "summary": f"Decide up to {MAX_BATCH} cases",
            "description": "Each case is validated and decided as POST /v1/decisions would, and answered or failed on "
                           "its own (results[].status). The batch's options are the defaults of every case's options. "
                           f"A batch that is not {{\"cases\": [1..{MAX_BATCH} cases]}} is a 400.",
            "requestBody": {"required": True, "content": _json_content(_ref("BatchRequest"))},
            "responses": {"200": {"description": "one result per case, in order",
                                  "content": _json_content(_ref("BatchResponse"))},
                          **_errors("InvalidCase", "BodyTimeout", "TooLarge", "UnsupportedMediaType", "InternalError")},
        }},
        "/v1/decisions/{decision_id}": {"get": {
            "tags": ["decisions"], "operationId": "getDecision", "summary": "A logged decision, byte for byte as answered",
            "description": "Without include: the decision exactly as answered. With include=input: the log record — "
                           "the input as logged, its sha256 (which the decision's input_sha256 must equal), the "
                           "record's seq and hashes in the chain, and the decision. Wants the auditor role.",
            "parameters": [decision_id, {"name": "include", "in": "query", "required": False,
                                         "schema": {"type": "string", "enum": ["input"]},
                                         "description": "input: answer the log record (DecisionRecord) instead"}],
            "responses": {"200": {"description": "the logged decision (Decision), or with include=input its record "
                                                 "(DecisionRecord)",
                                  "headers": {"Decision-Log-Seq": {"schema": {"type": "integer"},
                                                                   "description": "its place in the decision log"},
                                              "Decision-Log-Hash": {"schema": {"type": "string"},
                                                                    "description": "its hash in the log's chain"}},
                                  "content": _json_content({"oneOf": [_ref("Decision"), _ref("DecisionRecord")]})},
                          **_errors("InvalidQuery", "UnknownDecision", "LogOff", "LogUnavailable", "InternalError")},
        }},
        "/v1/decisions/{decision_id}/replay": {"post": {
            "tags": ["decisions"], "operationId": "replayDecision",
            "summary": "Decide a logged case again under its recorded ruleset files and compare",
            "parameters": [decision_id, {"name": "explain", "in": "query", "required": False,
                                         "schema": {"type": "string", "enum": ["true", "false", "1", "0"], "default": "false"},
                                         "description": "add the replayed decision's derivation to the report"}],
            "responses": {"200": {"description": "identical, or the differences",
                                  "content": _json_content(_ref("ReplayReport"))},
                          **_errors("UnknownDecision", "LogOff", "LogUnavailable", "InternalError")},
        }},
        "/v1/rulesets": {"get": {
            "tags": ["rulesets"], "operationId": "listRulesets", "summary": "Policies and their versions",
            "responses": {"200": {"description": "every policy with its versions", "content": _json_content(_ref("RulesetList"))}},
        }},
        "/v1/rulesets/{policy}/versions": {"get": {
            "tags": ["rulesets"], "operationId": "listVersions", "summary": "The history of a policy: metadata of each version",
            "parameters": [policy],
            "responses": {"200": {"description": "the versions, oldest window first",
                                  "content": _json_content(_ref("VersionList"))},
                          **_errors("UnknownRuleset")},
        }},
        "/v1/rulesets/{policy}/versions/{version}": {"get": {
            "tags": ["rulesets"], "operationId": "getVersion",
            "summary": "One version: readings, notes, eligibility and measures with their cited words",
            "parameters": [policy, version],
            "responses": {"200": {"description": "the version", "content": _json_content(_ref("VersionDetail"))},
                          **_errors("UnknownRuleset")},
        }},
        "/healthz": {"get": {
            "tags": ["service"], "operationId": "health", "summary": "Liveness, engine build, number of compiled rulesets",
            "responses": {"200": {"description": "ok", "content": _json_content(_ref("Health"))}},
        }},
        "/readyz": {"get": {
            "tags": ["service"], "operationId": "ready",
            "summary": "Readiness: whether a decision could be logged now (the log writable, its lock to be had)",
            "responses": {
                "200": {"description": "ready", "content": _json_content({
                    "type": "object", "required": ["status", "decision_log"],
                    "properties": {"status": {"const": "ready"}, "decision_log": _TEXT}})},
                "503": {"description": "not ready: the detail says why; see Retry-After",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        "content": {"application/problem+json": {"schema": _ref("Problem")}}}},
        }},
        "/metrics": {"get": {
            "tags": ["service"], "operationId": "metrics",
            "summary": "Prometheus metrics of every worker: requests, decisions, log appends, engine sessions",
            "responses": {
                "200": {"description": "the Prometheus text exposition format, version 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
                "501": {"description": "prometheus_client is not installed: no metrics",
                        "content": {"application/problem+json": {"schema": _ref("Problem")}}}},
        }},
        "/openapi.json": {"get": {
            "tags": ["service"], "operationId": "openapi", "summary": "This document",
            "responses": {"200": {"description": "the OpenAPI document", "content": _json_content({"type": "object"})}},
        }},
        **_checkpoint_paths(decision_id),
    }


def _checkpoint_paths(decision_id: dict) -> dict:
    """The signed checkpoints and Merkle proofs (``checkpoint_routes``); an auditor's reads."""
    def problem(description):
        return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}

    b64 = {"type": "string", "contentEncoding": "base64", "description": "32 bytes, base64"}
    size = {"type": "integer", "minimum": 1}
    unavailable = {"501": {"$ref": "#/components/responses/LogOff"},
                   "503": {"$ref": "#/components/responses/LogUnavailable"}}
    later = problem("not yet in a checkpoint (or the tree) of that size: ask again after the next checkpoint")
    return {
        "/v1/log/checkpoint": {"get": {
            "tags": ["log"], "operationId": "getCheckpoint",
            "summary": "The latest signed checkpoint (C2SP tlog-checkpoint signed note, Ed25519)",
            "description": "origin, tree size, base64 RFC 6962 root hash, extension lines `time` and `head` "
                           "(the chain's head hash), a blank line, `— <key name> <base64(key hash || signature)>`. "
                           "Keep it: `verify --checkpoint` and scripts/verify_proof.py check the log against it. "
                           "Role: auditor.",
            "responses": {"200": {"description": "the signed note", "content": {"text/plain": {"schema": _TEXT}}},
                          "404": problem("no checkpoint issued yet"), **unavailable},
        }},
        "/v1/decisions/{decision_id}/proof": {"get": {
            "tags": ["log"], "operationId": "getInclusionProof",
            "summary": "An RFC 9162 inclusion proof of a logged decision's record in a checkpointed tree",
            "description": "leaf = SHA-256(0x00 || bytes of record_hash); record_hash = "
                           "sha256(prev_hash + canonical JSON of record). Role: auditor.",
            "parameters": [decision_id, {"name": "size", "in": "query", "required": False, "schema": size,
                                         "description": "the tree size to prove against (default: the latest checkpoint's)"}],
            "responses": {"200": {"description": "the proof", "content": _json_content({
                "type": "object",
                "required": ["decision_id", "seq", "leaf_index", "tree_size", "record_hash", "record", "root_hash",
                             "inclusion_path", "checkpoint"],
                "properties": {
                    "decision_id": _TEXT, "seq": size, "leaf_index": {"type": "integer", "minimum": 0},
                    "tree_size": size, "record_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "record": {"type": "object", "description": "the record's hashed fields"},
                    "root_hash": b64, "inclusion_path": {"type": "array", "items": b64},
                    "checkpoint": {"type": ["string", "null"],
                                   "description": "the signed checkpoint of tree_size, when one was issued"}}})},
                          "400": problem("size is not a positive integer"),
                          "404": problem("no such decision, or no checkpoint yet"), "409": later, **unavailable},
        }},
        "/v1/log/consistency": {"get": {
            "tags": ["log"], "operationId": "getConsistencyProof",
            "summary": "An RFC 9162 consistency proof between two tree sizes (two checkpoints)",
            "description": "Role: auditor.",
            "parameters": [{"name": "from", "in": "query", "required": True, "schema": size},
                           {"name": "to", "in": "query", "required": False, "schema": size,
                            "description": "default: the latest checkpoint's size"}],
            "responses": {"200": {"description": "the proof", "content": _json_content({
                "type": "object", "required": ["from", "to", "from_root", "to_root", "consistency_path"],
                "properties": {"from": size, "to": size, "from_root": b64, "to_root": b64,
                               "consistency_path": {"type": "array", "items": b64}}})},
                          "400": problem("from and to are not 1 <= from <= to"), "409": later, **unavailable},
        }},
    }


_MONEY_OUT = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "decimal string, two places"}
_TOTALS = {"type": "object", "additionalProperties": _MONEY_OUT, "description": "currency → sum"}
_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_LANG_TEXT = {"type": "object", "properties": {"zh": _TEXT, "en": _TEXT}}

_VERSION_BASE = {
    "policy": _TEXT, "version": _TEXT,
    "status": {"type": "string", "enum": ["in_force", "draft", "announced", "repealed"]},
    "document": {"type": "object", "properties": {
        "number": _TEXT, "title": _TEXT, "issuer": _TEXT, "issued": _TEXT_OR_NULL, "source": _TEXT_OR_NULL}},
    "effective": {"type": "object", "description": "both ends inclusive", "properties": {
        "from": _TEXT, "until": _TEXT_OR_NULL, "article": _TEXT_OR_NULL, "cites": _TEXT_OR_NULL}},
    "sha256": {"type": "string", "description": "of the ruleset file"},
}
_VERSION_REQUIRED = ["policy", "version", "status", "document", "effective", "sha256", "measures"]

_DERIVATION_ENTRIES = {"type": "array", "items": {"$ref": "#/components/schemas/DerivationEntry"}}
_NULLABLE_MONEY = {"type": ["string", "null"], "pattern": r"^-?\d+\.\d{2}$"}
_PRIOR_COUNTED = {"type": "object", "required": ["index", "path", "measure", "amount"], "properties": {
    "index": {"type": "integer"}, "path": {"type": "string", "description": "prior_awards/<index> in the request"},
    "measure": _TEXT, "amount": _TEXT, "year": {"type": "integer"}, "project_id": _TEXT, "platform_id": _TEXT}}
DERIVATION_SCHEMAS = {
    "Derivation": {
        "type": "object", "required": ["outcomes", "denials", "inapplicable"],
        "description": "with options.explain (or replay ?explain=true): index for index beside the decision's outcomes, "
                       "denials and inapplicable, what the engine's rules matched and what settlement did",
        "properties": {"outcomes": _DERIVATION_ENTRIES, "denials": _DERIVATION_ENTRIES, "inapplicable": _DERIVATION_ENTRIES},
    },
    "DerivationEntry": {
        "type": "object", "required": ["measure", "event", "result", "article", "cites", "version"],
        "properties": {
            "measure": _TEXT, "event": _TEXT, "article": _TEXT, "cites": _TEXT,
            "result": {"type": "string", "description": "granted, inapplicable, or the denial's reason"},
            "version": {"$ref": "#/components/schemas/VersionResolution"},
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/DerivationStep"},
                      "description": "the steps of the rule that fired, in the measure's order"},
            "formula": {"type": "object", "required": ["text", "inputs", "exact", "rounding", "amount"], "properties": {
                "text": _TEXT, "of": _TEXT, "exact": _TEXT, "amount": _MONEY_OUT,
                "rounding": {"type": "string", "enum": ["half_up_fen"]},
                "inputs": {"type": "array", "items": {"type": "object", "required": ["name", "path", "value"], "properties": {
                    "name": _TEXT, "path": _TEXT, "type": _TEXT_OR_NULL, "value": _TEXT}}}}},
            "ledger": {"$ref": "#/components/schemas/CapLedger"},
            "stacking": {"$ref": "#/components/schemas/StackingLoss"},
            "supporting_events": {"type": "array", "items": _TEXT},
            "condition": _TEXT, "unstated": {"type": "string", "description": "the request path the case does not state"},
            "events": {"type": "array", "items": _TEXT, "description": "inapplicable: every event it was judged on"},
        },
    },
    "VersionResolution": {
        "type": "object", "required": ["policy", "version", "revision", "status", "window", "event_date", "role", "chosen_by"],
        "properties": {
            "policy": _TEXT, "version": _TEXT, "revision": {"type": "integer"}, "status": _TEXT, "document": _TEXT,
            "window": {"type": "object", "properties": {"from": _TEXT, "until": _TEXT_OR_NULL}},
            "event_date": _TEXT, "role": {"type": ["string", "null"], "enum": ["in", "out", "draft", None]},
            "chosen_by": {"type": "string", "enum": ["window", "out_of_window", "pin", "include_drafts", "draft_not_requested"]},
            "article": {"type": ["string", "null"], "description": "null where the document's dating line gives the window"},
            "cites": _TEXT, "reading": {"type": ["string", "null"], "description": "how the window is read, in options.lang"},
        },
    },
    "DerivationStep": {
        "type": "object", "required": ["kind", "id", "of", "article", "result", "read", "cites"],
        "properties": {
            "kind": {"type": "string", "enum": ["eligibility", "condition", "join", "case", "unless", "missing_join", "zero", "window"]},
            "id": _TEXT, "of": {"type": "string", "description": "trigger, a join alias, applicant or incident"},
            "article": _TEXT_OR_NULL, "test": {"description": "the test as the ruleset file writes it"},
            "result": {"type": "string", "enum": ["held", "failed", "unknown"]},
            "alternative": {"type": "integer", "description": "which alternative of the test's DNF (or of its negation) the rule tested"},
            "tested": {"type": "array", "items": {"type": "object", "properties": {"field": _TEXT, "op": _TEXT, "value": {}}},
                       "description": "the conjunction the engine's rule tested, values as the engine holds them"},
            "read": {"type": "array", "items": {"type": "object", "required": ["path"], "properties": {
                "path": {"type": "string", "description": "into the request: events[e1]/rank, applicant/attributes/…"},
                "value": {}, "stated": {"type": "boolean"}}}},
            "cites": _TEXT, "explain": {"type": "string", "description": "in options.lang"},
        },
    },
    "CapLedger": {
        "type": "object", "required": ["cap", "per", "key", "limit", "prior_awards", "opening", "claims"],
        "properties": {
            "cap": _TEXT, "per": _TEXT, "key": _TEXT, "cites": _TEXT,
            "limit": {"type": "object", "properties": {"amount": _NULLABLE_MONEY, "count": {"type": ["integer", "null"]},
                                                       "span": {"type": ["integer", "null"]}}},
            "prior_awards": {"type": "array", "items": _PRIOR_COUNTED, "description": "every prior award the ledger counted"},
            "opening": {"type": "object", "properties": {"remaining": _NULLABLE_MONEY,
                                                         "count_remaining": {"type": ["integer", "null"]}}},
            "claims": {"type": "array", "description": "every claim on the ledger, in the order settled",
                       "items": {"type": "object", "required": ["measure", "event", "status"], "properties": {
                           "measure": _TEXT, "event": _TEXT, "year": {"type": "integer"}, "asked": _NULLABLE_MONEY,
                           "status": {"type": "string", "enum": ["granted", "cap_exhausted", "already_granted"]},
                           "granted": _NULLABLE_MONEY, "remaining_before": _NULLABLE_MONEY,
                           "count_remaining_before": {"type": ["integer", "null"]}}}},
        },
    },
    "StackingLoss": {
        "type": "object", "required": ["group", "per", "key", "keep", "members", "rival"],
        "properties": {
            "group": _TEXT, "article": _TEXT, "cites": _TEXT, "per": _TEXT, "key": _TEXT,
            "keep": {"type": "string", "enum": ["first", "larger"]}, "members": {"type": "array", "items": _TEXT},
            "rival": {"type": "object", "required": ["measure"], "properties": {
                "measure": _TEXT, "event": _TEXT, "amount": _MONEY_OUT, "prior_award": _PRIOR_COUNTED}},
        },
    },
}

_RESPONSE_SCHEMAS = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; every error answer has this shape.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": f"{PROBLEM_TYPE}<kind>, e.g. invalid-case, unknown-ruleset"},
            "title": _TEXT,
            "status": {"type": "integer"},
            "detail": _TEXT,
            "errors": {"type": "array", "maxItems": limits.MAX_ERRORS,
                       "description": f"every invalid field at once, the first {limits.MAX_ERRORS} of them",
                       "items": {"type": "object", "required": ["path", "message"],
                                 "properties": {"path": {"type": "string", "description": "e.g. events/2/amount"},
                                                "message": _TEXT}}},
            "decision_id": {"type": "string", "description": "500: find the failure in the log with it; 503: the decision not served"},
            "errors_omitted": {"type": "integer", "minimum": 1,
                               "description": f"how many errors there are beyond the {limits.MAX_ERRORS} listed"},
        },
    },
    "Outcome": {
        "type": "object",
        "required": ["measure", "policy", "version", "article", "kind", "beneficiary", "event", "citation", "notes", "what_if"],
        "properties": {
            "measure": _TEXT, "policy": _TEXT, "version": _TEXT, "status": _TEXT, "document": _TEXT, "article": _TEXT,
            "kind": {"type": "string", "description": "the outcome kinds of schemas/ruleset.schema.json"},
            "beneficiary": _TEXT, "event": _TEXT,
            "supporting_events": {"type": "array", "items": _TEXT},
            "amount": _MONEY_OUT | {"description": "fixed and computed"},
            "amount_max": _MONEY_OUT | {"description": "ceiling and competitive"},
            "floor": _MONEY_OUT | {"description": "obligation"},
            "currency": _TEXT,
            "amount_before_cap": _MONEY_OUT,
            "cap": {"type": "object", "properties": {
                "id": _TEXT, "per": _TEXT, "amount": _MONEY_OUT, "remaining_before": _MONEY_OUT,
                "count": {"type": "integer"}, "count_remaining_before": {"type": "integer"}}},
            "basis": _TEXT, "payer": _TEXT, "handled_by": _TEXT, "citation": _TEXT,
            "notes": {"type": "array", "items": _TEXT, "description": "the readings relied on and the document's notes"},
            "what_if": {"type": "boolean", "description": "from a draft: never in totals"},
        },
    },
    "Denial": {
        "type": "object",
        "required": ["measure", "policy", "version", "article", "event", "reason", "detail", "citation", "what_if"],
        "properties": {
            "measure": _TEXT, "policy": _TEXT, "version": _TEXT, "status": _TEXT, "document": _TEXT, "article": _TEXT,
            "event": _TEXT,
            "reason": {"type": "string", "enum": ["not_eligible", "outside_window", "cap_exhausted", "not_stacked",
                                                  "missing_data", "draft_not_requested", "already_granted"]},
            "condition": {"type": "string", "description": "the condition that failed (not_eligible)"},
            "detail": {"type": "string", "description": "a sentence in the requested language"},
            "citation": _TEXT,
            "window": {"type": "object", "properties": {"from": _TEXT, "until": _TEXT_OR_NULL}},
            "what_if": {"type": "boolean"},
        },
    },
    "Inapplicable": {
        "type": "object",
        "description": "A measure that does not apply to this applicant: a condition on what the applicant is "
                       "(its kind, zone, city, zone level or type) fails. Said once, not as a denial per event.",
        "required": ["measure", "policy", "article", "condition", "detail", "citation", "events", "what_if"],
        "properties": {
            "measure": _TEXT, "policy": _TEXT, "article": _TEXT,
            "condition": {"type": "string", "description": "the condition on the applicant that fails"},
            "detail": {"type": "string", "description": "a sentence in the requested language"},
            "citation": _TEXT,
            "events": {"type": "array", "items": _TEXT,
                       "description": "the ids of the trigger events the measure would have judged, in canonical order"},
            "what_if": {"type": "boolean", "description": "only drafts hold the measure"},
        },
    },
    "Decision": {
        "type": "object",
        "description": "The answer to a case (../shared/docs/contract.md).",
        "required": ["case_id", "decision_id", "evaluated_at", "engine", "input_sha256", "rulesets",
                     "outcomes", "denials", "totals"],
        "properties": {
            "case_id": _TEXT_OR_NULL,
            "decision_id": {"type": "string", "format": "uuid"},
            "evaluated_at": {"type": "string", "format": "date-time"},
            "engine": {"type": "object", "properties": {"name": _TEXT, "version": _TEXT}},
            "service": {"type": "object", "properties": {"name": _TEXT, "version": _TEXT}},
            "input_sha256": {"type": "string", "description": "sha256 of the request as canonical JSON (keys sorted)"},
            "options": {"type": "object", "properties": {
                "lang": _TEXT, "explain": {"type": "boolean"}, "include_drafts": {"type": "boolean"},
                "pin": {"type": "object", "additionalProperties": _TEXT}}},
            "bundle": {"type": "object", "description": "every ruleset file the process holds, and one revision hash",
                       "properties": {"revision": _TEXT,
                                      "versions": {"type": "array", "items": {"type": "string",
                                                                              "description": "policy@version:sha256"}}}},
            "rulesets": {"type": "array", "description": "the versions that judged the case", "items": {
                "type": "object", "properties": {"policy": _TEXT, "version": _TEXT, "status": _TEXT, "document": _TEXT,
                                                 "sha256": _TEXT, "what_if": {"type": "boolean"}}}},
            "not_applicable": {"type": "array", "items": {"type": "object",
                                                          "properties": {"policy": _TEXT, "reason": _TEXT}}},
            "notices": {"type": "array", "items": {"type": "object", "properties": {
                "policy": _TEXT, "version": _TEXT, "status": _TEXT, "message": _TEXT}}},
            "outcomes": {"type": "array", "items": _ref("Outcome")},
            "denials": {"type": "array", "items": _ref("Denial")},
            "inapplicable": {"type": "array", "items": _ref("Inapplicable"),
                             "description": "the measures that do not apply to this applicant, one entry each; "
                                            "in force before what-if, then by policy and the measure's place in its document"},
            "totals": _TOTALS | {"description": "fixed and computed outcomes in force, per currency"},
            "ceiling_totals": _TOTALS | {"description": "ceilings (amount_max) in force, per currency"},
            "what_if_totals": _TOTALS | {"description": "outcomes of drafts, per currency"},
            "trace": {"type": "array", "items": _TEXT, "description": "with options.explain: the rules that fired"},
            "derivation": _ref("Derivation"),
        },
    },
    "BatchRequest": {
        "type": "object",
        "required": ["cases"],
        "additionalProperties": False,
        "properties": {
            "cases": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                      "items": {"description": "a case as POST /v1/decisions takes it; validated one by one",
                                "allOf": [_ref("Case")]}},
            "options": {"allOf": [_ref("Options")], "description": "defaults for every case's options (a case's own win)"},
        },
    },
    "BatchResponse": {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": _ref("BatchResult")}},
    },
    "BatchResult": {
        "type": "object",
        "required": ["index", "status"],
        "description": "status 200 with decision, or the status and problem POST /v1/decisions would answer",
        "properties": {
            "index": {"type": "integer", "description": "position of the case in cases[]"},
            "status": {"type": "integer"},
            "decision": _ref("Decision"),
            "problem": _ref("Problem"),
        },
    },
    "RulesetList": {
        "type": "object",
        "properties": {"policies": {"type": "array", "items": {"type": "object", "properties": {
            "policy": _TEXT,
            "versions": {"type": "array", "items": {"type": "object", "properties": {
                "version": _TEXT, "status": _TEXT, "document": _TEXT, "title": _TEXT, "issuer": _TEXT,
                "effective": {"type": "object", "properties": {"from": _TEXT, "until": _TEXT_OR_NULL}},
                "measures": {"type": "integer"}, "sha256": _TEXT}}}}}}},
    },
    "VersionMeta": {
        "type": "object",
        "required": _VERSION_REQUIRED,
        "properties": dict(_VERSION_BASE, measures={"type": "integer", "description": "number of measures"}),
    },
    "VersionList": {
        "type": "object",
        "properties": {"policy": _TEXT, "versions": {"type": "array", "items": _ref("VersionMeta")}},
    },
    "VersionDetail": {
        "type": "object",
        "required": _VERSION_REQUIRED,
        "description": "One ruleset file as written, with the words each rule cites from the source document; "
                       "the metadata of VersionMeta, with the measures themselves in place of their number.",
        "properties": {
            **_VERSION_BASE,
            "scope": {"type": "object"},
            "readings": {"type": "object", "additionalProperties": _LANG_TEXT,
                         "description": "each reading chosen where the text is ambiguous"},
            "notes": {"type": "array", "items": {"type": "object"}},
            "eligibility": {"type": ["object", "null"], "description": "the eligibility article as written", "properties": {
                "article": _TEXT, "cites": _TEXT, "applies_to": {"type": "array", "items": _TEXT},
                "conditions": {"type": "array", "items": {"type": "object", "properties": {
                    "id": _TEXT, "cites": {"type": "string", "description": "the words of the source document"},
                    "on": {"type": "string", "enum": ["applicant", "incident"],
                           "description": "which member holds the test: applicant (what must hold) or incident "
                                          "(what disqualifies)"},
                    "applicant": {}, "incident": {}, "readings": {"type": "array", "items": _TEXT},
                    "explain": _LANG_TEXT}}}}},
            "measures": {"type": "array", "items": {
                "type": "object",
                "description": "the measure as written in the file (conditions, joins, outcome, …), with its caps "
                               "and stacking groups",
                "properties": {
                    "id": _TEXT, "article": _TEXT, "kind": _TEXT, "beneficiary": _TEXT, "trigger": _TEXT,
                    "cites": {"type": "string", "description": "the words of the source document"},
                    "eligibility": {"type": "string", "enum": ["applies", "exempt"]},
                    "window_anchor": _TEXT, "conditions": {"type": "array", "items": {"type": "object"}},
                    "outcome": {"type": "object"}, "readings": {"type": "array", "items": _TEXT},
                    "handled_by": _TEXT, "payer": _TEXT,
                    "caps": {"type": "array", "items": {"type": "object"}},
                    "stacking": {"type": "array", "items": {"type": "object"}}}}},
            "caps": {"type": "array", "items": {"type": "object"}},
            "stacking": {"type": "array", "items": {"type": "object"}},
            "directives": {"type": "array", "items": {"type": "object"},
                           "description": "articles that decide nothing for a case, each with its reason"},
        },
    },
    "DecisionSummary": {
        "type": "object",
        "required": ["seq", "decision_id", "case_id", "created_at", "granted", "totals"],
        "properties": {
            "seq": {"type": "integer", "description": "its place in the decision log"},
            "decision_id": _TEXT, "case_id": _TEXT_OR_NULL,
            "created_at": {"type": "string", "description": "when it was logged (UTC, microseconds)"},
            "granted": {"type": "array", "items": _TEXT, "description": "the measures it granted"},
            "totals": {"type": "object", "additionalProperties": _TEXT, "description": "currency → sum granted"},
        },
    },
    "DecisionList": {
        "type": "object",
        "required": ["decisions", "next_cursor", "index"],
        "properties": {
            "decisions": {"type": "array", "items": _ref("DecisionSummary")},
            "next_cursor": {"type": ["string", "null"], "description": "pass as cursor for the next page; null: last page"},
            "index": {"type": "object", "required": ["complete", "unindexed_below"], "properties": {
                "complete": {"type": "boolean"},
                "unindexed_below": {"type": "integer", "description": "records of a lower seq are not indexed yet"}}},
        },
    },
    "DecisionRecord": {
        "type": "object",
        "description": "A decision with the input it was made on, as the log holds them.",
        "required": ["seq", "decision_id", "created_at", "hash", "prev_hash", "input", "input_sha256",
                     "input_sha256_matches", "decision"],
        "properties": {
            "seq": {"type": "integer"}, "decision_id": _TEXT, "created_at": _TEXT,
            "hash": {"type": "string", "description": "the record's hash in the chain"},
            "prev_hash": {"type": "string", "description": "the previous record's hash"},
            "input": {"type": "object", "description": "the request body as logged (canonical JSON parsed back)"},
            "input_sha256": {"type": "string", "description": "sha256 of the logged input's canonical text"},
            "input_sha256_matches": {"type": "boolean", "description": "it equals the decision's input_sha256"},
            "decision": _ref("Decision"),
        },
    },
    "ReplayReport": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["identical", "different"]},
            "differences": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string", "description": "e.g. outcomes/0/amount"}, "logged": {}, "replayed": {}}}},
            "derivation": _ref("Derivation") | {"description": "with ?explain=true: the replayed decision's derivation "
                                                               "(compared only when the logged decision has one)"},
        },
    },
    **DERIVATION_SCHEMAS,
    "Health": {
        "type": "object",
        "properties": {"status": _TEXT, "engine": {"type": "object", "properties": {"name": _TEXT, "version": _TEXT}},
                       "patched_engine": {"type": "boolean"}, "rulesets": {"type": "integer"}},
    },
}


def register(app, decider, validator) -> None:
    text = render(build_document(validator))

    @app.get("/openapi.json")
    def openapi_document():
        return Response(text, status=200, mimetype="application/json")
