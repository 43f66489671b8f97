"""The model registry resource: `config/models.json` plus the `MODELS_CONFIG` override."""

from pathlib import Path

import dagster as dg

from vsl_pipelines.domain.registry import Registry, load_registry


class RegistryResource(dg.ConfigurableResource):
    models_file: str
    models_config: str | None = None

    def registry(self) -> Registry:
        return load_registry(Path(self.models_file), self.models_config)
