"""GET /openapi.json: an OpenAPI 3 document of every endpoint, built from the @doc metadata."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask
from marshmallow import Schema, fields
from openapi_spec_validator import validate

from api.docs import doc
from api.docs_routes import build_spec, openapi_path
from schemas.common import ErrorSchema

SKIP = {"HEAD", "OPTIONS"}


@pytest.fixture
def spec(client) -> dict:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def test_document_validates_as_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_route_of_the_app_is_documented(app, spec):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path, _ = openapi_path(rule)
        if rule.endpoint.startswith("console."):  # HTML pages behind a session, not the API
            assert path not in spec["paths"], rule.rule
            continue
        assert path in spec["paths"], rule.rule
        for method in rule.methods - SKIP:
            assert method.lower() in spec["paths"][path], f"{method} {rule.rule}"


def test_every_documented_response_is_in_the_document(app, spec):
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "__freshet_doc__", None)
        if meta is None:
            continue
        path, _ = openapi_path(rule)
        for method in rule.methods - SKIP:
            responses = spec["paths"][path][method.lower()]["responses"]
            for status in meta["responses"]:
                assert str(status) in responses, f"{method} {rule.rule} {status}"
            assert "default" in responses


def test_error_responses_use_the_envelope_and_429_has_retry_after(spec):
    op = spec["paths"]["/api/v1/reviews/refresh"]["post"]
    assert set(op["responses"]) >= {"202", "400", "401", "402", "403", "429", "500"}
    err = op["responses"]["401"]["content"]["application/json"]["schema"]
    assert err == {"$ref": "#/components/schemas/Error"}
    assert set(spec["components"]["schemas"]["Error"]["required"]) == {"error", "code", "message"}
    assert "Retry-After" in op["responses"]["429"]["headers"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReviewRefreshRequest"
    }


def test_bearer_security_applies_to_authenticated_endpoints_only(spec):
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert spec["paths"]["/v1/usage"]["get"]["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "401" in spec["paths"]["/v1/usage"]["get"]["responses"]


def test_path_and_query_parameters(spec):
    params = spec["paths"]["/api/v1/jobs/{job_id}"]["get"]["parameters"]
    assert {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$", "example": "12345"},
    } in params
    query = spec["paths"]["/api/v1/reviews"]["get"]["parameters"]
    assert {p["name"] for p in query if p["in"] == "query"} >= {"asin", "limit", "cursor"}


def test_the_spec_states_the_constraints_the_handlers_enforce(spec):
    schemas = spec["components"]["schemas"]
    body = schemas["ReviewRefreshRequest"]["properties"]
    assert body["asin"]["pattern"] == "^[A-Za-z0-9]{10}$"
    assert body["marketplace"]["pattern"].startswith("^[Aa][Mm]")
    query = {p["name"]: p for p in spec["paths"]["/api/v1/reviews"]["get"]["parameters"]}
    assert query["asin"]["required"] and query["asin"]["schema"]["pattern"]
    workflow = spec["paths"]["/v1/workflows/{workflow_id}"]["get"]["parameters"][0]
    assert workflow["schema"]["format"] == "uuid"
    product = spec["paths"]["/v1/products/{product_id}"]["get"]["parameters"][0]
    assert product["schema"]["maxLength"] == 2048
    assert schemas["ProductRefreshRequest"]["properties"]["targets"]["maxItems"] == 500


def test_operation_ids_are_unique_for_a_view_on_two_paths(spec):
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_views_added_later_are_picked_up_generically():
    class WidgetSchema(Schema):
        id = fields.Integer(required=True)

    class WidgetQuery(Schema):
        colour = fields.String()

    other = type("ErrorSchema", (Schema,), {"detail": fields.String()})  # a clashing name
    bp = Blueprint("widgets", __name__)

    @bp.get("/v1/widgets/<int:widget_id>")
    @doc(
        "A widget",
        tag="widgets",
        query=WidgetQuery,
        responses={200: WidgetSchema, 404: ErrorSchema, 422: other},
    )
    def widget(widget_id: int):  # pragma: no cover - never called
        return {}

    @bp.post("/v1/widgets")
    def undocumented():  # pragma: no cover - never called
        """Make a widget."""
        return {}

    app = Flask("t")
    app.register_blueprint(bp)
    spec = build_spec(app)
    validate(spec)
    op = spec["paths"]["/v1/widgets/{widget_id}"]["get"]
    assert op["parameters"][0]["schema"]["type"] == "integer"
    assert op["tags"] == ["widgets"]
    names = set(spec["components"]["schemas"])
    assert {"Widget", "Error"} <= names
    assert len([n for n in names if n.endswith("Error")]) == 2  # told apart, not renumbered
    assert [p["name"] for p in op["parameters"] if p["in"] == "query"] == ["colour"]
    assert spec["paths"]["/v1/widgets"]["post"]["summary"] == "Make a widget."


def test_docs_page_points_at_the_document(client):
    resp = client.get("/docs")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "/openapi.json" in page and "swagger-ui" in page
    assert "/api/v1/reviews/refresh" in page  # the fallback list of operations
