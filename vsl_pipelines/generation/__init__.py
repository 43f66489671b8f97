"""Generation: creating predictions, following their status, collecting their outputs."""
