#!/usr/bin/env python3
"""Copies golden cases from ../shared/golden into tests/data unchanged, and their entries from
the shared MANIFEST.json into tests/data/MANIFEST.json (which lists what tests/data holds).

Usage: scripts/copy-golden-case.py CASE [CASE ...]   (run from the repository root)
"""
import hashlib
import json
import shutil
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
shared = root.parent / "shared" / "golden"
data = root / "tests" / "data"
shared_manifest = json.loads((shared / "MANIFEST.json").read_text())
manifest_path = data / "MANIFEST.json"
manifest = json.loads(manifest_path.read_text())
for case in sys.argv[1:]:
    src = shared / case
    if not src.is_dir():
        sys.exit(f"no golden case {case} in {shared}")
    shutil.copytree(src, data / case, dirs_exist_ok=True)
    for name, entry in shared_manifest["files"].items():
        if name.startswith(case + "/"):
            digest = hashlib.sha256((data / name).read_bytes()).hexdigest()
            if digest != entry["sha256"]:
                sys.exit(f"{name}: sha256 differs from the shared manifest")
            manifest["files"][name] = entry
manifest["files"] = dict(sorted(manifest["files"].items()))
manifest["total_bytes"] = sum(e["bytes"] for e in manifest["files"].values())
manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
