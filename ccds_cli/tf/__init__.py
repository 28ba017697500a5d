"""Our own thin runner over terraform/tofu: -json event streams, parallel stages, retries, progress."""
