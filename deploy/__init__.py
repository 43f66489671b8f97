"""Deployment code: infrastructure definitions, not part of the vsl_pipelines package."""
