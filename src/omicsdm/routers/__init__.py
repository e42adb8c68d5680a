"""HTTP routers: dependencies in, schema out; no SQL and no S3 calls here."""
