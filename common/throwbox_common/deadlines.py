"""Time bounds that the control plane and the executor agents must agree on."""

# A run not started by its start deadline: the control plane's reaper fails it (queue_timeout)
# this long after the deadline, and an agent stops trying to publish its Started at that point,
# so a run the control plane has given up is never started late.
START_GRACE_MS = 5_000
