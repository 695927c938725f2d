"""Command-line tasks built on the library (an application layer: the library never imports it)."""
