"""muselink core: the daemon, its jobs and lanes, the plugin manager and the CLI."""
__version__ = "0.1.0"
