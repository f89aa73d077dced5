#!/usr/bin/env python3
"""The executables a cargo build made, read from its JSON messages
(`cargo build --message-format=json-render-diagnostics > FILE`).

Usage: cargo_exes.py FILE [NAME]
  without NAME: one `name path` line per executable;
  with NAME: the path of the last executable of that target."""
import json
import sys

found = []
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        found.append((m["target"]["name"], m["executable"]))
if len(sys.argv) > 2:
    paths = [path for name, path in found if name == sys.argv[2]]
    if not paths:
        sys.exit(f"cargo_exes.py: no executable for {sys.argv[2]} in {sys.argv[1]}")
    print(paths[-1])
else:
    for name, path in found:
        print(name, path)
