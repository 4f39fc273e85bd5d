"""Tools around the pipeline: the demo, the producer, synthetic traffic and child processes."""
