"""Prints what python-dotenv (interpolation off) reads from each .env file
named on the command line: a JSON array of objects, one per file, values as
lists of UTF-8 bytes (exact), `null` for a name without a value, or
{"error": ...} when the library raises. For tests/integration/import_export.rs."""
import json
import sys
import warnings

from dotenv import dotenv_values

out = []
for path in sys.argv[1:]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            values = dotenv_values(path, interpolate=False, encoding="utf-8")
            out.append({k: None if v is None else list(v.encode("utf-8", "surrogatepass")) for k, v in values.items()})
        except Exception as e:  # noqa: BLE001 - reported to the test
            out.append({"error": [ord(c) for c in repr(e)]})
json.dump(out, sys.stdout)
