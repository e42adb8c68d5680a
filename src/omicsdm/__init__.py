"""omicsdm: the file store of an omics data warehouse."""

__version__ = "0.1.0"
