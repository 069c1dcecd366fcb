"""The telemetryhub command line."""
