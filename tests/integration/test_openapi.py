"""The OpenAPI document is valid and describes every API route."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_the_openapi_document_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())


def test_every_api_route_is_documented_with_its_methods(app, client):
    documented = client.get("/api/v1/openapi.json").get_json()["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in documented, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in documented[path], f"{method} {path}"


def test_the_case_schema_is_the_one_that_validates_requests(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    case = schemas["CaseInput"]
    assert set(case["required"]) == {"patient", "timepoint", "question", "insurance"}
    assert case["additionalProperties"] is False
