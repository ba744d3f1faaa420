"""GET /openapi.json, built from every view's `@doc` metadata and its marshmallow schemas, and
GET /docs, the interactive page (Swagger UI) that reads it."""

from __future__ import annotations

import html
import logging
import re
import warnings
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import Schema
from werkzeug.routing import Rule

from api.docs import doc
from schemas.common import ErrorSchema

bp = Blueprint("docs", __name__)
log = logging.getLogger(__name__)

OPENAPI_VERSION = "3.0.3"
SECURITY_SCHEME = "bearerAuth"
SKIP_METHODS = {"HEAD", "OPTIONS"}
_CONVERTER_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}
_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-zA-Z_]\w*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_]\w*)>")
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
_RATE_HEADERS = {
    "X-RateLimit-Limit": {
        "description": "Requests allowed per window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in this window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Seconds until the window frees a place",
        "schema": {"type": "integer"},
    },
}
DESCRIPTION = """Freshet keeps product data (prices, offers, stock, reviews) fresh from
upstream sources on demand. Each vendor's endpoints speak that vendor's dialect. Every error
body carries `{"error", "code", "message"}`; every 429 and 503 has `Retry-After`."""


def _app_version() -> str:
    try:
        return version("freshet")
    except PackageNotFoundError:
        return "0.0.0"


class _SchemaNames:
    """Component names: the class name without "Schema"; a second class of the same name
    (another module's) is told apart by its module, so no name is silently renumbered."""

    def __init__(self) -> None:
        self.owners: dict[str, type] = {}

    def __call__(self, schema: Any) -> str | None:
        cls = schema if isinstance(schema, type) else type(schema)
        if not isinstance(schema, type) and (schema.only or schema.exclude):
            return None  # a modified instance is written inline
        base = cls.__name__.removesuffix("Schema") or cls.__name__
        for name in (
            base,
            f"{cls.__module__.rsplit('.', 1)[-1].title()}{base}",
            f"{cls.__module__.replace('.', '_')}_{cls.__name__}",
        ):
            if self.owners.setdefault(name, cls) is cls:
                return name
        return None


def openapi_path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """/v1/jobs/<job_id> → /v1/jobs/{job_id}, with its path parameters."""
    params: list[dict[str, Any]] = []

    def sub(m: re.Match[str]) -> str:
        conv, name = m.group("conv"), m.group("name")
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(_CONVERTER_TYPES.get(conv or "", {"type": "string"})),
            }
        )
        return "{" + name + "}"

    return _RULE_ARG.sub(sub, rule.rule), params


def _content(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _response(status: int | str, value: Any) -> dict[str, Any]:
    phrase = _phrase(status)
    if value is None:
        out: dict[str, Any] = {"description": phrase}
    elif isinstance(value, str):
        out = {"description": value}
    elif isinstance(value, dict):
        out = {"description": phrase, **value}
    elif isinstance(value, Schema) or (isinstance(value, type) and issubclass(value, Schema)):
        out = {"description": phrase, "content": _content(value)}
    else:
        raise TypeError(f"@doc response {status}: {value!r} is not a schema, dict or str")
    if str(status) in ("429", "503"):
        out["headers"] = {**_RETRY_AFTER, **out.get("headers", {})}
    return out


def _phrase(status: int | str) -> str:
    try:
        return HTTPStatus(int(status)).phrase
    except ValueError:
        return "Error"


def _operation(
    endpoint: str,
    method: str,
    view: Any,
    path_params: list[dict[str, Any]],
    op_ids: set[str],
    path: str,
) -> dict[str, Any]:
    meta = getattr(view, "__freshet_doc__", None) or {}
    summary = meta.get("summary") or (view.__doc__ or endpoint).strip().splitlines()[0]
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [meta.get("tag") or "other"],
        "operationId": _operation_id(endpoint, method, path, op_ids),
    }
    if meta.get("description"):
        op["description"] = meta["description"]
    stated = meta.get("path") or {}
    params = [{**p, "schema": {**p["schema"], **stated.get(p["name"], {})}} for p in path_params]
    if meta.get("query") is not None:
        params.append({"in": "query", "schema": meta["query"]})
    if method == "POST":
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Replays the first answer for the same key and body",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if params:
        op["parameters"] = params
    if meta.get("body") is not None:
        op["requestBody"] = {"required": True, "content": _content(meta["body"])}
    documented = dict(meta.get("responses") or {})
    if not documented:
        documented[200] = None
    auth = meta.get("auth", True)
    if auth:
        documented.setdefault(401, ErrorSchema)
    responses = {str(s): _response(s, v) for s, v in sorted(documented.items(), key=_status_key)}
    if auth:
        for status, resp in responses.items():
            if status.startswith("2"):
                resp["headers"] = {**_RATE_HEADERS, **resp.get("headers", {})}
    # Anything not listed (405, 413, 500, 503 …) answers with the same envelope.
    responses["default"] = {"description": "Error envelope", "content": _content(ErrorSchema)}
    op["responses"] = responses
    op["security"] = [{SECURITY_SCHEME: []}] if auth else []
    return op


def _status_key(item: tuple[Any, Any]) -> str:
    return str(item[0])


def _operation_id(endpoint: str, method: str, path: str, taken: set[str]) -> str:
    base = endpoint.replace(".", "_")
    candidate = (
        base
        if base not in taken
        else (method.lower() + re.sub(r"[^a-zA-Z0-9]+", "_", path).rstrip("_"))
    )
    n = 2
    while candidate in taken:
        candidate = f"{base}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route of `app` (static files and the console excepted)."""
    spec = APISpec(
        title="Freshet",
        version=_app_version(),
        openapi_version=OPENAPI_VERSION,
        # apispec takes None from a resolver (write the schema inline); its hint says str only
        plugins=[MarshmallowPlugin(schema_name_resolver=_SchemaNames())],  # type: ignore[arg-type]
        info={"description": DESCRIPTION},
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme(
        SECURITY_SCHEME,
        {"type": "http", "scheme": "bearer", "bearerFormat": "rk_live_… or rk_test_…"},
    )
    rules = sorted(
        # The console's HTML pages (a session cookie, not a key) are not part of the API.
        (
            r
            for r in app.url_map.iter_rules()
            if r.endpoint != "static" and not r.endpoint.startswith("console.")
        ),
        key=lambda r: (r.rule, r.endpoint),
    )
    op_ids: set[str] = set()
    tags: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for rule in rules:
            view = app.view_functions[rule.endpoint]
            path, path_params = openapi_path(rule)
            operations = {}
            for method in sorted((rule.methods or set()) - SKIP_METHODS):
                op = _operation(rule.endpoint, method, view, path_params, op_ids, path)
                operations[method.lower()] = op
                tags.extend(t for t in op["tags"] if t not in tags)
            if operations:
                spec.path(path=path, operations=operations)
    for w in caught:
        log.warning("openapi: %s", w.message)
    for tag in tags:
        spec.tag({"name": tag})
    return spec.to_dict()


def _cached_spec() -> dict[str, Any]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    spec: dict[str, Any] | None = app.extensions.get("freshet.openapi")
    if spec is None:
        spec = app.extensions["freshet.openapi"] = build_spec(app)
    return spec


@bp.get("/openapi.json")
@doc(
    "This API's OpenAPI 3 document",
    tag="operations",
    auth=False,
    responses={
        200: {
            "description": "OpenAPI 3 document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def openapi_json() -> Response:
    return jsonify(_cached_spec())


# Swagger UI from its CDN (nothing vendored, nothing fetched by the server); the list below it
# is rendered here so the page is useful even where the CDN is out of reach.
SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Freshet API</title>
<link rel="stylesheet" href="{cdn}/swagger-ui.css">
<style>body{{margin:0;font-family:system-ui,sans-serif}} #fallback{{padding:1rem 2rem}}
#fallback code{{background:#f3f3f3;padding:0 .3em}} td{{padding:.15rem .6rem}}</style>
</head><body>
<div id="swagger-ui"><div id="fallback">
<h1>Freshet API</h1>
<p>The machine-readable document is <a href="{spec_url}">{spec_url}</a> (OpenAPI 3). The
interactive explorer loads from a CDN; without it, here is every operation:</p>
<table>{rows}</table></div></div>
<script src="{cdn}/swagger-ui-bundle.js" crossorigin></script>
<script>
window.addEventListener("load", function () {{
  if (!window.SwaggerUIBundle) return;
  window.ui = SwaggerUIBundle({{url: "{spec_url}", dom_id: "#swagger-ui",
    deepLinking: true, persistAuthorization: true}});
}});
</script>
</body></html>
"""


@bp.get("/docs")
@doc(
    "Interactive API documentation (Swagger UI)",
    tag="operations",
    auth=False,
    responses={
        200: {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    },
)
def docs_page() -> Response:
    spec = _cached_spec()
    rows = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>"
                f"{html.escape(path)}</code></td><td>{html.escape(op['summary'])}</td></tr>"
            )
    body = PAGE.format(cdn=SWAGGER_UI, spec_url="/openapi.json", rows="\n".join(rows))
    return Response(body, mimetype="text/html")
