#!/usr/bin/env python3
"""Copies TensorFlow's reference outputs into the repository's test fixtures.

Usage: tools/import_tf_reference.py SOURCE.json [Tests/Fixtures/tf_reference.json]

SOURCE is a file of TensorFlow-made cases ({"about": ..., "cases": [{"name", "attrs", "inputs", "output",
"upstream", "grads"}]}). The script checks that every case has a unique name and that each array's data fills its
shape, then writes the cases sorted by name, so the committed fixture changes only when the reference does.
The tests read only the committed copy: `make test` never needs the source.
"""
import json
import math
import sys


def check_array(case, where, array):
    if isinstance(array, dict) and "shape" in array and "data" in array:
        expected = math.prod(array["shape"]) if array["shape"] else 1
        if len(array["data"]) != expected:
            sys.exit(f"{case}: {where} holds {len(array['data'])} values for shape {array['shape']}")
    elif isinstance(array, dict):
        for key, value in array.items():
            check_array(case, f"{where}.{key}", value)
    elif isinstance(array, list):
        for index, value in enumerate(array):
            check_array(case, f"{where}[{index}]", value)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    source = sys.argv[1]
    target = sys.argv[2] if len(sys.argv) == 3 else "Tests/Fixtures/tf_reference.json"
    with open(source) as handle:
        reference = json.load(handle)
    names = [case["name"] for case in reference["cases"]]
    if len(names) != len(set(names)):
        sys.exit("case names repeat")
    for case in reference["cases"]:
        for field in ("inputs", "output", "upstream", "grads"):
            if case.get(field) is not None:
                check_array(case["name"], field, case[field])
    reference["cases"].sort(key=lambda case: case["name"])
    with open(target, "w") as handle:
        json.dump(reference, handle, separators=(",", ":"), sort_keys=True)
        handle.write("\n")
    print(f"{target}: {len(names)} cases")


if __name__ == "__main__":
    main()
