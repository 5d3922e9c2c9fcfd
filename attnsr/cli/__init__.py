"""Command-line interface: argument parsing only; every subcommand calls the library."""
