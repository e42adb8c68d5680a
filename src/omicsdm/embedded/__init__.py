"""Embedded PostgreSQL and S3 (SeaweedFS) servers for development and tests."""
