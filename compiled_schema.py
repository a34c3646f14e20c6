"""A marshmallow schema whose dump of dict rows follows a plan compiled once from its fields.

marshmallow 4.4 dumps every value through ``Field.serialize``, ``Field.get_value``, the
schema's accessor and ``utils.get_value``: about 0.8 us per value, so a page of 10 rows of
37 fields spends some 300 us there (measured with bench/run.py's data, see BENCHMARKS.md).
The plan keeps marshmallow's field order, data keys and each field's ``_serialize``. It
only skips the calls that cannot change a value: a plain ``String`` given a ``str``, a
plain ``Integer`` given an ``int``, and a ``Raw`` field. Every other field, and every
object that is not a dict holding each field's key, goes through marshmallow unchanged.
"""

from marshmallow import Schema, fields, missing

# Field classes whose ``_serialize`` returns a value of the given type unchanged, and the
# type (None: any value). A subclass that overrides ``_serialize`` is not in the plan.
_UNCHANGED_BY = {
    fields.String._serialize: str,
    fields.Number._serialize: int,
    fields.Field._serialize: None,
}


class CompiledDumpSchema(Schema):
    """A schema that dumps dict rows by a per-field plan built on its first dump.

    NOTE: the plan overrides marshmallow's private ``Schema._serialize`` as marshmallow 4.4
    defines it. tests/test_compiled_schema.py compares the two outputs.
    """

    def _serialize(self, obj, *, many=False):
        if many and obj is not None:
            return [self._serialize(item) for item in obj]

        plan = self.__dict__.get("_dump_plan") or self._compile_dump_plan()
        if type(obj) is not dict or not plan.keys <= obj.keys():
            return super()._serialize(obj)

        result = self.dict_class()
        for data_key, name, field, unchanged_type in plan.steps:
            value = obj[name]
            # String, Number and Raw dump None as None
            if unchanged_type is _ANY_VALUE or unchanged_type is not None and (
                value is None or type(value) is unchanged_type
            ):
                result[data_key] = value
                continue

            value = field.serialize(name, obj, accessor=self.get_attribute)
            if value is not missing:
                result[data_key] = value
        return result

    def _compile_dump_plan(self):
        plan = _DumpPlan(self)
        self._dump_plan = plan
        return plan


# A marker for fields that return any value unchanged.
_ANY_VALUE = object()


class _DumpPlan:
    """For each dump field: its data key, attribute name, field and the type it leaves unchanged."""

    def __init__(self, schema):
        self.steps = []
        self.keys = set()
        plain_accessor = type(schema).get_attribute is Schema.get_attribute
        for name, field in schema.dump_fields.items():
            data_key = field.data_key if field.data_key is not None else name
            # marshmallow reads a dotted name as a path into nested objects
            shortcut = plain_accessor and "." not in name
            self.steps.append((data_key, name, field, _unchanged_type(field) if shortcut else None))
            self.keys.add(name)


def _unchanged_type(field):
    """Return the type whose values ``field`` dumps unchanged, _ANY_VALUE, or None for no shortcut."""
    if field.attribute is not None or field.dump_default is not missing or not field._CHECK_ATTRIBUTE:
        return None
    if getattr(field, "as_string", False):
        return None

    serialize = type(field)._serialize
    if serialize not in _UNCHANGED_BY:
        return None
    unchanged = _UNCHANGED_BY[serialize]
    if serialize is fields.Number._serialize and not isinstance(field, fields.Integer):
        return None
    return _ANY_VALUE if unchanged is None else unchanged
