"""Every template parses with tree-sitter-bicep and with pycep (the parser checkov uses)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pycep import BicepParser

from tests.infra.bicep import INFRA, bicep_files, syntax_errors

FILES = bicep_files()


def test_the_templates_are_found():
    names = {str(path.relative_to(INFRA)) for path in FILES}
    assert {"main.bicep", "app/api.bicep", "app/rbac.bicep", "app/openai-access.bicep"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_tree_sitter_finds_no_error_or_missing_node(path: Path):
    assert syntax_errors(path.read_bytes()) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_pycep_parses_it(path: Path):
    # checkov reports a file pycep cannot parse as a "parsing error" and still exits 0, so a
    # construct pycep lacks (it also trips on five or more comment lines in a row inside an
    # object) would silently hide that file from the policy checks.
    BicepParser().parse(file_path=path)


BROKEN = {
    "unclosed object": "resource sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {\n  name: 'x'\n",
    "missing value": "param p string =\n",
    "stray token": "var v = { a: 1 } }\n",
    "bad resource keyword": "resourc sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {}\n",
}


@pytest.mark.parametrize("source", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_snippet_is_reported(source: str):
    assert syntax_errors(source.encode()) != []


def test_a_sound_snippet_is_not_reported():
    source = b"param p string = 'x'\nresource sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {\n  name: p\n}\n"
    assert syntax_errors(source) == []
