"""What Outputs reads from a record without parsing it; DirectTable's writes by partition."""

from __future__ import annotations

import faust
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import codec
from streams.worker.outputs import DirectTable, Outputs, _type_of


@given(values=st.dictionaries(st.sampled_from(["at", "customer", "entity_id", "level", "service", "threshold"]),
                              st.text()), type_=st.sampled_from(["warning", "breached", "correction", "firing"]))
def test_the_type_of_a_breach_topic_record_is_its_type_field_whatever_the_other_values_say(values, type_) -> None:
    """Values may spell `"type":"x"` themselves (escaped in the JSON): the key's value is found."""
    record = codec.dumps({**values, "customer": values.get("customer", "") + '","type":"evil', "type": type_})
    assert _type_of(record) == type_.encode() == orjson.loads(record)["type"].encode()


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_direct_table_is_written_and_a_key_removed_outside_a_stream_event(store, tmp_path) -> None:
    """The SLA tracker writes a tick's entries once the broker has stored its outputs, after
    the tick's stream event: each write and removal goes to the partition's store and queues
    its changelog record (a tombstone for a removal). No broker here: nothing is delivered."""
    app = faust.App("direct", broker="kafka://localhost:1", store=store, datadir=str(tmp_path))
    outputs = Outputs({"bootstrap.servers": "localhost:1", "log_level": 0}, 10)
    table = DirectTable(app, outputs=outputs, name="t", default=None, partitions=4, key_type=bytes, value_type=bytes)
    table.put_in(2, b"k", b"v")
    assert table.get_in(2, b"k") == b"v" and outputs.unstored() == 1
    table.pop_in(2, b"k")
    assert table.get_in(2, b"k") is None and outputs.unstored() == 2
