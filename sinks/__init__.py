"""Outputs: ClickHouse writer and migrations."""
