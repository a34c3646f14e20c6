"""The compiled dump plan gives exactly marshmallow's own output, key order included."""

import json
from decimal import Decimal

import pytest
from marshmallow import Schema, fields

import compiled_schema
import schemas

FULL_ROW = {
    "id": "sr_1", "user_id": "user_1", "organization_id": "org_1", "batch_execution_id": "batch_1",
    "execution_session_id": "session_1", "flow_id": "flow_1", "flow_version_id": "flow_1_v2",
    "record": "record_1", "record_name": "Record", "step_id": "step_001", "step_type": "prompt",
    "step_name": "Summarize", "order": 3, "status": "failed", "started_at": 1717236930250,
    "completed_at": 1717236945000, "duration_ms": 14750, "output_preview": "{\"ok\":false}",
    "created_at": 1717236930000, "record_metadata": {"tier": 2}, "step_config": [1, {"a": None}],
    "input_variables": "text", "resolved_prompt": "Summarize it", "model_used": "gpt-4o",
    "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150, "estimated_cost": "0.00045",
    "estimated_cost_key": "24999645", "error_message": "Timed out", "retry_count": 1,
    "cache_read_tokens": 0, "cache_write_tokens": 5, "reasoning_tokens": 7, "reasoning_config": {"effort": "low"},
    "reasoning_requested": True, "reasoning_rejection": None, "execution_engine": "runtime",
}
NULL_ROW = {name: None for name in FULL_ROW} | {"id": "sr_2", "record": "record_1", "created_at": 0}
ODD_ROW = FULL_ROW | {"order": True, "total_tokens": 2**70, "step_name": 12, "record_metadata": Decimal("1.5")}


def native_dump(schema, rows):
    """marshmallow's own per-object serialization, without the compiled plan."""
    return [Schema._serialize(schema, row) for row in rows]


@pytest.mark.parametrize("row", [FULL_ROW, NULL_ROW, ODD_ROW], ids=["full", "nulls", "odd types"])
def test_step_result_dump_matches_marshmallow(row):
    dumped = schemas.STEP_RESULT_LIST.dump([row])

    assert dumped == native_dump(schemas.STEP_RESULT_LIST, [row])
    assert json.dumps(dumped, default=str) == json.dumps(native_dump(schemas.STEP_RESULT_LIST, [row]), default=str)


def test_row_without_a_key_falls_back():
    row = {name: value for name, value in FULL_ROW.items() if name != "flow_id"}

    dumped = schemas.STEP_RESULT_LIST.dump([row])

    assert dumped == native_dump(schemas.STEP_RESULT_LIST, [row])
    assert "flowId" not in dumped[0]


def test_object_row_falls_back():
    class Row:
        pass

    row = Row()
    row.__dict__.update(FULL_ROW)

    assert schemas.STEP_RESULT_LIST.dump([row]) == native_dump(schemas.STEP_RESULT_LIST, [FULL_ROW])


class ShapedSchema(compiled_schema.CompiledDumpSchema):
    plain = fields.String()
    padded = fields.String(dump_default="none")
    renamed = fields.Integer(attribute="source")
    text_number = fields.Integer(as_string=True)
    decimal = fields.Float()
    method = fields.Method("describe")

    def describe(self, obj):
        return f"row {obj['plain']}"


@pytest.mark.parametrize(
    "row",
    [
        {"plain": "a", "padded": None, "renamed": 1, "source": 2, "text_number": 3, "decimal": 4, "method": None},
        {"plain": None, "padded": "b", "renamed": None, "source": None, "text_number": None, "decimal": None, "method": 0},
    ],
)
def test_fields_without_shortcut_match_marshmallow(row):
    schema = ShapedSchema()

    assert schema.dump(row) == Schema._serialize(schema, row)


@pytest.mark.parametrize(
    "field, expected",
    [
        (fields.String(), str),
        (fields.Integer(), int),
        (fields.Raw(), compiled_schema._ANY_VALUE),
        (fields.Integer(as_string=True), None),
        (fields.Float(), None),
        (fields.String(dump_default="x"), None),
        (fields.String(attribute="other"), None),
        (schemas.Timestamp(), None),
    ],
)
def test_shortcut_only_for_unchanged_values(field, expected):
    assert compiled_schema._unchanged_type(field) is expected
