"""Write the API's OpenAPI document: `python -m nomaflow.engine.server.openapi docs/openapi.json`
(a test checks that the committed file is current)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nomaflow.engine.server.api.routes import openapi_document


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
