"""The `oxbnn` command line."""
