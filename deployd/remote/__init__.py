"""Storage off this host: S3-compatible object storage (boto3), and age, which encrypts
every file before it leaves."""
