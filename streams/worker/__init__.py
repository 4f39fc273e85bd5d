"""The worker: Faust app, routing, and the trackers that keep engine state in Faust tables."""
