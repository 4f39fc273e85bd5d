from faust.types import TP

from streams.worker.monitor import QuietMonitor


class Stream:
    task_owner = None


def test_the_quiet_monitor_keeps_what_faust_reads_and_counts_nothing_per_record() -> None:
    monitor = QuietMonitor()
    tp = TP("sla.tickets", 0)
    state = monitor.on_stream_event_in(tp, 7, Stream(), None)
    monitor.on_stream_event_out(tp, 7, Stream(), None, state)
    # Faust's consumer reads when each partition last delivered an event (slow-processing checks) ...
    assert tp in monitor.stream_inbound_time
    # ... and commits and end offsets, which stay the Monitor's own.
    monitor.on_tp_commit({tp: 8})
    monitor.track_tp_end_offset(tp, 9)
    assert monitor.tp_committed_offsets[tp] == 8 and monitor.tp_end_offsets[tp] == 9
    assert monitor.events_total == 0 and not monitor.events_by_stream and not monitor.events_runtime
