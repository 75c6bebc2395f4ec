import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from prism.qc import QC_COLUMNS, QcEvent, Severity, events_table, read_events
from prism_assets.compute import GPU_STEP, is_gpu_step


def _event(**kw):
    base = dict(check="black", start_s=1.0, end_s=2.0, severity=Severity.warning, message="black frames")
    return QcEvent(**(base | kw))


def test_events_round_trip_through_parquet_in_contract_order(tmp_path):
    events = [_event(start_s=5, end_s=6), _event(check="loudness_integrated", track=1, start_s=0, end_s=9,
                                                   severity="error", value=-14.2, message="too loud")]
    path = tmp_path / "qc.parquet"
    pq.write_table(events_table(events), path)
    assert tuple(pq.read_schema(path).names) == QC_COLUMNS
    back = read_events(path.read_bytes())
    assert [e.check for e in back] == ["loudness_integrated", "black"]  # sorted by time
    assert back[0].track == 1 and back[0].value == -14.2 and back[1].track is None


def test_event_rejects_reversed_range_and_unknown_severity():
    with pytest.raises(ValidationError):
        _event(start_s=3, end_s=2)
    with pytest.raises(ValidationError):
        _event(severity="fatal")


def test_gpu_step_tags_request_one_gpu():
    assert is_gpu_step(GPU_STEP["op_tags"]) and GPU_STEP["pool"] == "gpu"
    assert '"GPU"' in GPU_STEP["op_tags"]["ecs/container_overrides"]
    assert not is_gpu_step({}) and not is_gpu_step(None)
