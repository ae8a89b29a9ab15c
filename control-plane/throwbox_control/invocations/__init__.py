"""Event-driven callers: requests on throwbox.invocations.<tenant>, results on throwbox.results.<tenant>.

`InvocationConsumer` (consumer.py) runs in every control-plane instance, in one consumer group,
so the instances share the topic's partitions. See docs/kafka-callers.md for the contract and
the trust model.
"""

from .consumer import GROUP, InvocationConsumer

__all__ = ["GROUP", "InvocationConsumer"]
