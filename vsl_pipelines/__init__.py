"""VSL Pipelines: scripts in, generated media reviewed, one compiled video out."""
