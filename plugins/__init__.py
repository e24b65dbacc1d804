"""Built-in optlab plugins, one module per family, registered through the `optlab` entry-point group."""
