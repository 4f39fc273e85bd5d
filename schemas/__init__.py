"""Contracts at slastream's edges: input events, outputs, dead-letter records, codec."""
