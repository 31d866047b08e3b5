"""Read a ROS 2 parameters YAML file the way rcl reads it for one node.

The offline tool must run with exactly the parameters the live node got from
the same file, so this mirrors rcl_yaml_param_parser rather than YAML itself:

* node entries: nested keys above `ros__parameters` form the node's fully
  qualified name (`/ns: {valence_node: ...}` is `/ns/valence_node`); a key
  without a leading slash is rooted at `/`; `*` matches one name token and
  `**` any number of them (as whole tokens only); matching entries merge in
  file order;
* scalars: unquoted ones are bool (y/yes/true/on, n/no/false/off in any of
  YAML's three cases), int (decimal, 0x hex, leading-0 octal; beyond int64 a
  double), double (strtod syntax such as `1e3`, `-.3`, `1.`, `.inf`, `.nan`),
  otherwise a string; quoted ones are strings. No null, timestamps, `1_000`
  or sexagesimal values as PyYAML's YAML 1.1 would give;
* nested mappings inside `ros__parameters` are dotted names
  (`qos_overrides./valence.publisher.depth`).

Checked against real rcl by test/test_params_file.py.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_NAME_TOKEN = re.compile(r"^(?:\*\*|\*|[A-Za-z_][A-Za-z0-9_]*)$")


class ParamsFileError(ValueError):
    """The file cannot be read as a ROS 2 params file; str() is one line, the
    reason only (callers name the file)."""


class _RclScalarLoader(yaml.SafeLoader):
    """SafeLoader with rcl's scalar typing instead of YAML 1.1's."""


# Start from no implicit resolvers at all (a class attribute of our own, so
# SafeLoader itself is untouched), then add rcl's three, most specific first.
_RclScalarLoader.yaml_implicit_resolvers = {}
_RclScalarLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
               r"|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"))
_RclScalarLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$"),
    list("-+0123456789"))
_RclScalarLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def _construct_bool(loader, node) -> bool:
    return loader.construct_scalar(node).lower() in ("y", "yes", "true", "on")


def _construct_int(loader, node) -> int | float:
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    if INT64_MIN <= value <= INT64_MAX:
        return value
    try:  # strtol overflows, strtod takes it
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


_RclScalarLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_RclScalarLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _join(namespace: str, key: str) -> str:
    tokens = [t for t in namespace.split("/") + key.split("/") if t]
    for token in tokens:
        if not _NAME_TOKEN.match(token):
            raise ParamsFileError(
                f"node key {key!r}: names are letters, digits and _, or the whole-token "
                f"wildcards * and **")
    return "/" + "/".join(tokens)


def _node_entries(document: Any, namespace: str = "") -> list[tuple[str, dict]]:
    """(node name pattern, its ros__parameters) for every node entry, in file order."""
    entries: list[tuple[str, dict]] = []
    if not isinstance(document, dict):
        return entries
    for key, value in document.items():
        if not isinstance(value, dict):
            continue
        name = _join(namespace, str(key))
        parameters = value.get("ros__parameters")
        if isinstance(parameters, dict):
            entries.append((name, parameters))
        else:
            entries.extend(_node_entries(value, name))
    return entries


def _pattern_matches(pattern: str, node_fqn: str) -> bool:
    regex = re.escape(pattern).replace(r"/\*\*", "(?:/[^/]+)*").replace(r"\*", "[^/]+")
    return re.fullmatch(regex, node_fqn) is not None


def _flatten(parameters: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in parameters.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def read_node_parameters(path: str | Path, node_fqn: str) -> dict[str, Any]:
    """All parameters the file gives the node `node_fqn` (e.g. "/robot1/valence_node")."""
    path = Path(path)
    try:
        document = yaml.load(path.read_text(), Loader=_RclScalarLoader)
        entries = _node_entries(document)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ParamsFileError) as error:
        raise ParamsFileError(" ".join(str(error).split())) from None  # YAML errors span lines
    values: dict[str, Any] = {}
    for pattern, parameters in entries:
        if _pattern_matches(pattern, node_fqn):
            values.update(_flatten(parameters))
    return values
