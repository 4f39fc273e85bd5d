import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.deadletter import DeadLetter
from schemas.outputs import EntityStatus, Lifecycle, ProbeMinute, SlaEvent, SloAlert, SloStatus

MODELS = (SlaEvent, EntityStatus, ProbeMinute, SloAlert, SloStatus, DeadLetter)


@settings(max_examples=40)
@given(st.one_of(*(st.builds(model) for model in MODELS)))
def test_outputs_serialise_to_the_bytes_of_pydantics_json_mode(model) -> None:
    # codec.dumps lets orjson write datetimes, enums and floats from Python mode; outputs
    # published before and after that change must be the same bytes.
    try:
        want = orjson.dumps(model.model_dump(mode="json"), option=orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer past 64 bits, which orjson refuses either way
        with pytest.raises(TypeError):
            codec.dumps(model)
        return
    assert codec.dumps(model) == want


@settings(max_examples=40)
@given(st.builds(SlaEvent))
def test_the_engines_lifecycle_record_serialises_to_the_bytes_of_its_sla_event(event: SlaEvent) -> None:
    # The engine builds Lifecycle records; the breach topic's contract is SlaEvent.
    try:
        want = codec.dumps(event)
    except TypeError:  # an integer past 64 bits, which orjson refuses either way
        return
    record = Lifecycle(**event.model_dump())
    assert codec.dumps(record) == want
