"""The pure core: SLA clocks, business calendars, probe minutes and SLO windows; no Faust, no Kafka."""
