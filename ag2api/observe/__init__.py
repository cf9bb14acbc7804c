"""What the gateway reports about itself: request log, usage statistics, metrics."""
