"""Domain models and rules: the model registry, scripts, jobs and takes; no Dagster here."""
