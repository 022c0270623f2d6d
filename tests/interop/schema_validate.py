"""Validates connection files against fakta's JSON Schema with an independent validator
(Python's jsonschema, draft 2020-12), for tests/schema.rs.

    schema_validate.py SCHEMA FILE...
    schema_validate.py --check-env

The YAML is read with PyYAML, with the scalar types of YAML 1.2's core schema (what editors'
yaml-language-server uses): only true/false are booleans (YAML 1.1's yes/no/on/off are strings,
as they are for fakta), and dates stay strings.

Prints one JSON object: {"files": [{"file": ..., "errors": [...]} or {"file": ..., "yaml_error":
...}]}, each error as "path: message". Exit status: 0 when it ran (whatever it found), 2 on bad
usage or a schema that is itself invalid.
"""

import argparse
import json
import re
import sys
from importlib.metadata import version


def imports():
    import jsonschema
    import yaml

    return jsonschema, yaml


def core_schema_loader(yaml):
    """A SafeLoader whose implicit scalar types are YAML 1.2 core's: null, bool, int, float."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {}
    resolvers = [
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", list("~nN") + [""]),
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
        (
            "tag:yaml.org,2002:float",
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            list("-+.0123456789"),
        ),
    ]
    for tag, pattern, first in resolvers:
        Loader.add_implicit_resolver(tag, re.compile(pattern), first)
    return Loader


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-env", action="store_true")
    p.add_argument("schema", nargs="?")
    p.add_argument("files", nargs="*")
    args = p.parse_args()
    jsonschema, yaml = imports()
    if args.check_env:
        print(json.dumps({"ok": True, "jsonschema": version("jsonschema"), "pyyaml": yaml.__version__}))
        return
    if not args.schema:
        p.error("SCHEMA is required")
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    loader = core_schema_loader(yaml)
    out = []
    for name in args.files:
        try:
            with open(name, encoding="utf-8") as f:
                doc = yaml.load(f, Loader=loader)
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            out.append({"file": name, "yaml_error": f"{type(e).__name__}: {e}"})
            continue
        errors = [
            f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        ]
        out.append({"file": name, "errors": errors})
    print(json.dumps({"files": out}))


if __name__ == "__main__":
    main()
