"""JSON Schemas of the JSON reports (data files; a package so they install with the wheel)."""
