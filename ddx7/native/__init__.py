"""C sources compiled on first use by the modules that load them (ddx7.stream_native: stream_ddx7.c)."""
