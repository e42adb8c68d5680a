"""SigV4 for browser and CLI multipart uploads: parsing, the allow-list policy, and the HMAC itself."""
