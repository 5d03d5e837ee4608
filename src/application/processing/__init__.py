"""The event queue's processing: the processor, its policy, summary, heartbeat and error lines."""
