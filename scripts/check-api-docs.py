#!/usr/bin/env python3
"""Checks that each OpenAPI document in docs/api/ parses and lists exactly the routes its server
registers (method and path), so the documents cannot drift from the code.
Usage: scripts/check-api-docs.py [SOURCE_DIR]   exit 0 = in step, 1 = drift or a document that
does not parse (each problem on its own line)."""
import re
import sys
from pathlib import Path

import yaml

# document -> the source files whose cpp-httplib routes it describes (the routes live in headers
# the server and the api_requests fuzz target share)
PAIRS = {
    "docs/api/controller.yaml": ["src/cloud/controller/api_routes.hpp", "src/cloud/controller/api_server.cpp"],
    "docs/api/host-agent.yaml": ["src/cloud/host/agent_routes.hpp", "src/cloud/host/agent_api.cpp"],
}
ROUTE = re.compile(r'\bs\.(Get|Post|Put|Delete|Patch)\(\s*(?:R"\((.*?)\)"|"([^"]*)")')


def served(source: str) -> set[tuple[str, str]]:
    """(method, path) for each route; regex groups become {} (a path parameter)."""
    routes = set()
    for method, raw, plain in ROUTE.findall(source):
        path = re.sub(r"\([^)]*\)", "{}", raw or plain)
        routes.add((method.lower(), path))
    return routes


def documented(doc: dict) -> set[tuple[str, str]]:
    routes = set()
    for path, item in (doc.get("paths") or {}).items():
        for method in item:
            if method in ("get", "post", "put", "delete", "patch"):
                routes.add((method, re.sub(r"\{[^}]*\}", "{}", path)))
    return routes


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    problems = []
    for doc_path, src_paths in PAIRS.items():
        src_path = " + ".join(src_paths)
        try:
            doc = yaml.safe_load((root / doc_path).read_text())
        except yaml.YAMLError as e:
            problems.append(f"{doc_path}: not valid YAML: {e}".replace("\n", " "))
            continue
        if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
            problems.append(f"{doc_path}: not an OpenAPI 3 document (no 'openapi: 3.x' key)")
            continue
        code, docs = served("\n".join((root / p).read_text() for p in src_paths)), documented(doc)
        if not code:
            problems.append(f"{src_path}: no routes found (did the registration style change?)")
        for method, path in sorted(code - docs):
            problems.append(f"{doc_path}: {method.upper()} {path} is served by {src_path} but not documented")
        for method, path in sorted(docs - code):
            problems.append(f"{doc_path}: {method.upper()} {path} is documented but {src_path} does not serve it")
    for p in problems:
        print(p)
    if not problems:
        print(f"API documents in step with the code ({len(PAIRS)} documents)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
