"""The SDK's typed views (spindle.models) against the server's OpenAPI document, whose schemas the server generates
from the wire records it actually writes (src/Spindle.Protocol). A field added on one side only fails here."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from spindle import models
from support import SpindleServer

#: Each dataclass and the schema of the response it reads.
SCHEMAS: dict[type, str] = {
    models.DeployResult: "DeployDefinitionResponse",
    models.SubmitResult: "SubmitWorkflowResponse",
    models.ActivityState: "WorkflowActivity",
    models.Workflow: "WorkflowDetail",
    models.WorkflowChild: "WorkflowChild",
    models.WorkflowSummary: "WorkflowListItem",
    models.WorkflowPage: "WorkflowList",
    models.WorkflowOutputs: "WorkflowOutputResponse",
    models.ActivityOutput: "ActivityOutputResponse",
    models.WorkflowEvent: "WorkflowEventRecord",
    models.CancelResult: "CancelWorkflowResponse",
    models.SignalResult: "SignalResponse",
    models.DefinitionSummary: "DefinitionListItem",
    models.Schedule: "Schedule",
    models.ScheduleList: "ScheduleList",
    models.ScheduleRun: "ScheduleRunRecord",
    models.TriggerResult: "TriggerScheduleResponse",
    models.BackfillResult: "BackfillScheduleResponse",
}

#: Dataclass fields read from a wire field of another name.
RENAMED: dict[tuple[type, str], str] = {
    # The structured error comes from error_detail; the one-line text from error.
    (models.ActivityState, "error"): "error_detail",
    (models.ActivityState, "error_text"): "error",
    # The list form [{name, type, value}] of "output", as {name: value}.
    (models.ActivityOutput, "outputs"): "output",
}

#: Wire fields the SDK leaves in ``raw`` on purpose.
LEFT_IN_RAW: set[tuple[str, str]] = {
    ("WorkflowDetail", "state_data"),  # always {}: kept only for Kruxia Flow clients
}

#: Dataclass fields that are not read from the wire.
NOT_ON_THE_WIRE = {"raw"}

#: Fields whose ``from_json`` turns a null into an empty value, so they need no optional type.
EMPTY_WHEN_NULL: set[tuple[type, str]] = {
    (models.ActivityOutput, "outputs"),  # {} when the activity recorded no outputs
}


@pytest.fixture(scope="module")
def schemas(server: SpindleServer) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()["components"]["schemas"]


def _nullable(prop: dict[str, Any]) -> bool:
    kinds = prop.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or prop.get("nullable") is True:
        return True
    return any(_nullable(option) for option in prop.get("oneOf", []) + prop.get("anyOf", []))


def _sdk_optional(f: dataclasses.Field[Any]) -> bool:
    """The SDK copes with the field being null or absent: an optional type or a default."""
    has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    return has_default or str(f.type).replace(" ", "").endswith("|None")


@pytest.mark.parametrize("cls", list(SCHEMAS), ids=lambda cls: cls.__name__)
def test_dataclass_fields_match_the_wire_schema(cls: type, schemas: dict[str, Any]) -> None:
    name = SCHEMAS[cls]
    assert name in schemas, f"the OpenAPI document has no schema {name} (for {cls.__name__})"
    schema = schemas[name]
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))

    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in NOT_ON_THE_WIRE}
    wire_of = {field_name: RENAMED.get((cls, field_name), field_name) for field_name in fields}

    sdk_side = set(wire_of.values())
    wire_side = {p for p in properties if (name, p) not in LEFT_IN_RAW}
    assert sdk_side - wire_side == set(), f"{cls.__name__} reads fields that {name} does not have"
    assert wire_side - sdk_side == set(), f"{name} has fields that {cls.__name__} does not read"

    # The SDK may be more lenient than the server (it also reads older servers), never stricter: a field the server
    # may leave out or send as null must be optional in the dataclass.
    for field_name, f in fields.items():
        wire = wire_of[field_name]
        wire_optional = wire not in required or _nullable(properties[wire])
        if wire_optional and (cls, field_name) not in EMPTY_WHEN_NULL:
            assert _sdk_optional(f), f"{cls.__name__}.{field_name} must be optional: {name}.{wire} may be null or absent"


def test_every_schema_named_in_the_table_is_a_response_record(schemas: dict[str, Any]) -> None:
    # A renamed or removed record on the server side shows up here, not as a silently skipped comparison.
    missing = sorted(name for name in SCHEMAS.values() if name not in schemas)
    assert missing == []
    assert all(isinstance(schemas[name].get("properties"), dict) for name in SCHEMAS.values())
