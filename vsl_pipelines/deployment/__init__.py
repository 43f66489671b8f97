"""What a deployed process needs before it starts: the roles of the one image and the checks
of their settings (`vsl role`). Knows nothing of Dagster beyond the names of its commands."""
