"""Sensors and the schedule that drive the flow: new scripts, webhooks, approvals, batches."""
