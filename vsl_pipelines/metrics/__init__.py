"""The original system's operational metrics, recorded where each event happens.

On AWS they reach CloudWatch as Embedded Metric Format fields in the JSON log line of the
event (`emf.py`: no API call on a hot path); locally `GET /metrics` serves them in Prometheus
text format, derived from the database at scrape time (`prometheus.py`), so events of every
process (service, sensors, runs in their own containers) are counted without a shared folder.
"""
