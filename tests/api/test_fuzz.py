"""Property-based fuzzing from /openapi.json (schemathesis) against the WSGI app.

Every generated request, valid or not, must get a documented status with a body that matches
the document, and never a 500.
"""

from __future__ import annotations

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import OPERATOR, make_app, openapi_path
from tests.api.fakecore import FakeCore

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _app() -> Flask:
    # period_ms far in the future keeps the fake from generating samples between calls
    return make_app(FakeCore(period_ms=1000))


schema = schemathesis.openapi.from_wsgi("/openapi.json", _app())


def test_document_loads_as_openapi_3_1_with_every_route_as_an_operation() -> None:
    assert schema.specification.version.startswith("3.1")
    operations = {
        (op.path, op.method.upper())
        for op in (result.ok() for result in schema.get_all_operations())
    }
    routes = {
        (openapi_path(rule.rule), method)
        for rule in _app().url_map.iter_rules()
        if rule.rule not in ("/", "/static/<path:filename>")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    # schemathesis leaves out the document it was loaded from
    assert operations == routes - {("/openapi.json", "GET")}


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_document(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {OPERATOR}"}, checks=CHECKS)
