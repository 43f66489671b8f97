"""Where media lives: one small interface, a local folder now, S3 later."""
