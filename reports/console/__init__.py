"""Plain-text (terminal) rendering of results: one module per concept. The CLI and the demo call
these; the library below them never imports `reports`."""
