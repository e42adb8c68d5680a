"""The `omicsdm` command."""
