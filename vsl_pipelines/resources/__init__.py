"""Dagster resources: thin wrappers choosing each service's implementation from configuration."""
