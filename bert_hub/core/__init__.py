"""What every layer shares: errors, the SavedModel interface, configs and handles, caches, how outputs are written."""
