"""Prints the JSON Schema (draft 2020-12, objects embedded) of one OCSF class with the given
profiles, from the OCSF schema packaged by `ocsf-json-schema` (tests/ocsf/requirements.txt).

    python3 tests/ocsf/class_schema.py 1.1.0 api_activity datetime[,cloud]
"""
import json
import sys

from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

version, class_name = sys.argv[1], sys.argv[2]
profiles = [p for p in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if p]
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
json.dump(schema.get_class_schema(class_name, profiles), sys.stdout)
