"""The repository layer: every SQL statement of the service lives in this package, one module per aggregate."""
