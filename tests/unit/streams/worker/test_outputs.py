"""What Outputs reads from a record without parsing it."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from schemas import codec
from streams.worker.outputs import _type_of


@given(values=st.dictionaries(st.sampled_from(["at", "customer", "entity_id", "level", "service", "threshold"]),
                              st.text()), type_=st.sampled_from(["warning", "breached", "correction", "firing"]))
def test_the_type_of_a_breach_topic_record_is_its_type_field_whatever_the_other_values_say(values, type_) -> None:
    """Values may spell `"type":"x"` themselves (escaped in the JSON): the key's value is found."""
    record = codec.dumps({**values, "customer": values.get("customer", "") + '","type":"evil', "type": type_})
    assert _type_of(record) == type_.encode() == orjson.loads(record)["type"].encode()
