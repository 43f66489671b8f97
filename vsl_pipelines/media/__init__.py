"""The media engine: FFmpeg probing, stills, thumbnails and compilation; knows nothing of Dagster."""
