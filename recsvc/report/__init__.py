"""The report: one self-contained HTML page of what the pushes did, drawn from attributed sends."""
