"""The SLA portal: what customers and analysts look at, served from ClickHouse."""
