"""Running the platform: status, the one-command platform, its demo."""
