"""Dagster assets of the flow: requests, collections and the compiled video, per script."""
