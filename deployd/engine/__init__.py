"""Jobs, pipelines and the event bus: the parts that compose adapters over time."""
