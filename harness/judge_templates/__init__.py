"""Versioned judge prompt templates (package data, read by `harness.judge.templates`).

Each `ID-vVERSION.txt` starts with a header line `# judge-template id=ID version=VERSION`, then a
`[system]` section and a `[user]` section. Placeholders are `$name` / `${name}` (string.Template);
write a literal dollar as `$$`. Never edit a released template: copy it to the next version.
"""
