from streams.worker.stall import StallWatch


def test_a_partition_whose_position_stands_still_for_the_limit_is_reported_once_per_limit() -> None:
    watch = StallWatch(limit=60)
    assert watch.idle(0, {"a": 5, "b": None}) == []
    assert watch.idle(59, {"a": 5, "b": None}) == []
    assert watch.idle(60, {"a": 5, "b": None}) == ["a", "b"]
    assert watch.idle(61, {"a": 5, "b": None}) == []  # counted afresh: a quiet partition is asked once per limit
    assert watch.idle(120, {"a": 5, "b": None}) == ["a", "b"]


def test_a_partition_that_moves_is_counted_from_its_last_move() -> None:
    watch = StallWatch(limit=60)
    watch.idle(0, {"a": 5})
    assert watch.idle(50, {"a": 6}) == []
    assert watch.idle(100, {"a": 6}) == []
    assert watch.idle(110, {"a": 6}) == ["a"]


def test_partitions_no_longer_owned_and_forgetting_start_the_count_again() -> None:
    watch = StallWatch(limit=60)
    watch.idle(0, {"a": 5, "b": 1})
    watch.idle(30, {"b": 1})  # "a" moved to another worker
    assert watch.idle(60, {"a": 5, "b": 1}) == ["b"]
    watch.forget()
    assert watch.idle(130, {"a": 5, "b": 1}) == []
    assert watch.idle(190, {"a": 5, "b": 1}) == ["a", "b"]

