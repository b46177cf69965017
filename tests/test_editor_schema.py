"""yaml-language-server itself accepts the specs `validate` accepts (README "Editor support").

The schema is also checked with the Python `jsonschema` (tests/test_cli.py, TestSchema); this
drives the editor's own server over the Language Server Protocol, so the YAML 1.2 reading and
the server's schema dialect are the ones an editor applies. The server is Node, not a Python
package: the test runs where `yaml-language-server` is on PATH or $YAML_LANGUAGE_SERVER names
it (`npm install yaml-language-server`), and is slow (a Node process and one schema load).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

SERVER = os.environ.get("YAML_LANGUAGE_SERVER") or shutil.which("yaml-language-server")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        SERVER is None or shutil.which("node") is None,
        reason="yaml-language-server (Node) not installed: npm install yaml-language-server",
    ),
]


class _Client:
    """The few LSP messages a diagnostics run needs, over the server's stdio."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.diagnostics: dict[str, list[dict]] = {}
        self.changed = threading.Condition()
        self.next_id = 0
        self.replies: dict[int, dict] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        ident = self.next_id
        self.send({"id": ident, "method": method, "params": params})
        with self.changed:
            assert self.changed.wait_for(lambda: ident in self.replies, timeout=60), method
            return self.replies[ident]

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            message = json.loads(stream.read(length))
            if "method" in message and "id" in message:  # a request of the server
                self.send({"id": message["id"], "result": self._answer(message)})
                continue
            with self.changed:
                if message.get("method") == "textDocument/publishDiagnostics":
                    params = message["params"]
                    self.diagnostics[params["uri"]] = params["diagnostics"]
                elif "id" in message:
                    self.replies[message["id"]] = message
                self.changed.notify_all()

    @staticmethod
    def _answer(message: dict) -> object:
        if message["method"] == "workspace/configuration":
            settings = {"validate": True, "schemaStore": {"enable": False}}
            return [
                settings if item.get("section") == "yaml" else None
                for item in message["params"]["items"]
            ]
        return None

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _diagnostics(documents: dict[str, str], schema: Path) -> dict[str, list[str]]:
    """{name: messages} of yaml-language-server for each document, the schema named in the
    first line as the README tells users to."""
    client = _Client([SERVER or "", "--stdio"])
    try:
        client.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": ROOT.as_uri(), "capabilities": {}},
        )
        client.send({"method": "initialized", "params": {}})
        settings = {"yaml": {"validate": True, "schemaStore": {"enable": False}}}
        change = {"settings": settings}
        client.send({"method": "workspace/didChangeConfiguration", "params": change})
        uris = {}
        for i, (name, text) in enumerate(documents.items()):
            uri = (ROOT / f"lsp-{i}.yaml").as_uri()  # never written: the text travels in didOpen
            uris[uri] = name
            text = f"# yaml-language-server: $schema={schema.as_uri()}\n{text}"
            document = {"uri": uri, "languageId": "yaml", "version": 1, "text": text}
            client.send({"method": "textDocument/didOpen", "params": {"textDocument": document}})
        with client.changed:
            done = client.changed.wait_for(lambda: set(uris) <= set(client.diagnostics), 120)
        assert done, sorted(set(uris) - set(client.diagnostics))
        return {name: [d["message"] for d in client.diagnostics[uri]] for uri, name in uris.items()}
    finally:
        client.close()


def test_yaml_language_server_accepts_what_validate_accepts(tmp_path) -> None:
    from archinspect.errors import ArchinspectError
    from archinspect.spec import load_spec_text

    schema = tmp_path / "archinspect.schema.json"
    subprocess.run(
        [sys.executable, "-m", "archinspect", "schema", "-o", str(schema)], check=True, cwd=ROOT
    )
    paths = sorted(ROOT.glob("configs/*.yaml")) + sorted((ROOT / "tests/specs").rglob("*.yaml"))
    accepted = {}
    for path in paths:
        text = path.read_text()
        try:
            load_spec_text(text, str(path))
        except ArchinspectError:
            continue
        accepted[str(path.relative_to(ROOT))] = text
    model = {"family": "ConvNet", "num_spatial_dims": 1, "in_channels": 1, "out_channels": 1}
    amounts = {"max_params": 1_000_000, "max_flops": 5e9, "max_memory": "2.5G"}
    accepted["integer, float and string amounts"] = yaml.safe_dump(
        {"model": model, "budget": amounts}
    )
    load_spec_text(accepted["integer, float and string amounts"], "amounts.yaml")
    # the server must also be seen to reject: a misspelt argument and a fractional count
    rejected = {
        "misspelt": yaml.safe_dump({"model": {**model, "hiden_channels": 3}}),
        "fractional": yaml.safe_dump({"model": model, "budget": {"max_params": 1.5}}),
    }
    found = _diagnostics(accepted | rejected, schema)
    assert len(accepted) >= 10  # every shipped config and the accepted corpus specs
    assert {name: found[name] for name in accepted} == {name: [] for name in accepted}
    assert any("hiden_channels" in m for m in found["misspelt"]), found["misspelt"]
    assert found["fractional"] != []
