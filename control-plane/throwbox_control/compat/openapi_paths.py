"""The compatibility routes in the OpenAPI document (merged by ../openapi.py).

Request schemas come from the msgspec types the routes decode with; answers are the peers'
own shapes, described loosely (docs/compat.md has them field by field). The WebSocket
/api/v2/connect is described in docs/compat.md (OpenAPI has no WebSocket operations).
"""

from __future__ import annotations

import msgspec

from .judge0 import Submission
from .piston import PistonExecute

REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict:
    return {"$ref": REF.format(name=name)}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _answers(ok: dict, *errors: str, error_schema: str) -> dict:
    shape = {"PistonError": "Piston's error: {\"message\": \"...\"}",
             "Judge0Error": "Judge0's error: {\"error\": \"...\"} or {\"<field>\": [\"<problem>\"]} (422)"}[error_schema]
    out = dict(ok)
    for status in ("401", *errors):
        resp = {"description": shape, **_json(_ref(error_schema))}
        if status in ("429", "503"):
            resp["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
        out[status] = resp
    return out


def components() -> dict:
    _, comps = msgspec.json.schema_components([PistonExecute, Submission], ref_template=REF)
    comps["Judge0Submission"] = comps.pop("Submission")
    comps["Judge0Batch"] = {"type": "object", "required": ["submissions"], "additionalProperties": False,
                            "properties": {"submissions": {"type": "array", "minItems": 1, "maxItems": 20,
                                                           "items": _ref("Judge0Submission")}}}
    comps["PistonError"] = {"type": "object", "required": ["message"],
                            "properties": {"message": {"type": "string"}}}
    comps["Judge0Error"] = {"type": "object"}
    return comps


def paths() -> dict:
    auth = [{"bearer": []}]
    piston_tag, judge0_tag = ["Piston v2 compatible"], ["Judge0 CE compatible"]
    obj, arr = {"type": "object"}, {"type": "array"}
    text = {"type": "string"}
    fields = {"name": "fields", "in": "query", "required": False, "schema": text,
              "description": "comma-separated fields, or * (Judge0)"}
    b64 = {"name": "base64_encoded", "in": "query", "required": False, "schema": text,
           "description": "\"true\": source_code, stdin, expected_output and the outputs are base64"}
    wait = {"name": "wait", "in": "query", "required": False, "schema": text,
            "description": "\"true\": answer with the result (up to the server's wait cap)"}
    jerr = {"error_schema": "Judge0Error"}
    perr = {"error_schema": "PistonError"}
    return {
        "/api/v2/runtimes": {"get": {
            "operationId": "pistonRuntimes", "tags": piston_tag, "security": auth,
            "responses": _answers({"200": {"description": "installed runtimes", **_json(arr)}}, **perr)}},
        "/api/v2/execute": {"post": {
            "operationId": "pistonExecute", "tags": piston_tag, "security": auth,
            "requestBody": {"required": True, **_json(_ref("PistonExecute"))},
            "responses": _answers({"200": {"description": "the result: language, version, compile?, run",
                                           **_json(obj)}},
                                  "400", "413", "415", "429", "503", **perr)}},
        "/judge0/submissions": {"post": {
            "operationId": "judge0CreateSubmission", "tags": judge0_tag, "security": auth,
            "parameters": [wait, b64, fields],
            "requestBody": {"required": True, **_json(_ref("Judge0Submission"))},
            "responses": _answers({"201": {"description": "{token}, or the submission with wait=true",
                                           **_json(obj)}},
                                  "400", "413", "415", "422", "429", "503", **jerr)}},
        "/judge0/submissions/batch": {
            "post": {"operationId": "judge0CreateBatch", "tags": judge0_tag, "security": auth,
                     "parameters": [b64],
                     "requestBody": {"required": True, **_json(_ref("Judge0Batch"))},
                     "responses": _answers({"201": {"description": "a token or errors per submission",
                                                    **_json(arr)},
                                            "422": {"description": "no submission was valid", **_json(arr)}},
                                           "400", "413", "415", "429", "503", **jerr)},
            "get": {"operationId": "judge0GetBatch", "tags": judge0_tag, "security": auth,
                    "parameters": [{"name": "tokens", "in": "query", "required": True, "schema": text},
                                   b64, fields],
                    "responses": _answers({"200": {"description": "{submissions: [submission or null]}",
                                                   **_json(obj)}}, "400", "503", **jerr)},
        },
        "/judge0/submissions/{token}": {"get": {
            "operationId": "judge0GetSubmission", "tags": judge0_tag, "security": auth,
            "parameters": [{"name": "token", "in": "path", "required": True, "schema": text}, b64, fields],
            "responses": _answers({"200": {"description": "the submission", **_json(obj)}},
                                  "400", "404", "503", **jerr)}},
        "/judge0/languages": {"get": {
            "operationId": "judge0Languages", "tags": judge0_tag, "security": auth,
            "responses": _answers({"200": {"description": "[{id, name}]", **_json(arr)}}, **jerr)}},
        "/judge0/languages/{lang_id}": {"get": {
            "operationId": "judge0Language", "tags": judge0_tag, "security": auth,
            "parameters": [{"name": "lang_id", "in": "path", "required": True, "schema": text}],
            "responses": _answers({"200": {"description": "the language", **_json(obj)}}, "404", **jerr)}},
        "/judge0/statuses": {"get": {
            "operationId": "judge0Statuses", "tags": judge0_tag, "security": auth,
            "responses": _answers({"200": {"description": "[{id, description}]", **_json(arr)}}, **jerr)}},
        "/judge0/about": {"get": {
            "operationId": "judge0About", "tags": judge0_tag, "security": auth,
            "responses": _answers({"200": {"description": "the Judge0 API level served", **_json(obj)}}, **jerr)}},
        "/judge0/config_info": {"get": {
            "operationId": "judge0ConfigInfo", "tags": judge0_tag, "security": auth,
            "responses": _answers({"200": {"description": "limits in Judge0's units", **_json(obj)}}, **jerr)}},
    }
