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
  (`qos_overrides./valence.publisher.depth`); `[]` and `{}` are parameters
  without a type (rcl's NOT_SET), read as None;
* the file's shape: refused as rcl refuses it, whichever node the bad part is
  for - a list as the document, a scalar, list or nothing where a node name,
  namespace or ros__parameters mapping belongs, a parameter without a value,
  a list mixing types, YAML aliases. Files rcl reads into undocumented names
  (lists nested in lists, mappings in lists, several YAML documents) are
  refused too, with the reason;
* the file itself must be a regular file of at most MAX_PARAMS_FILE_BYTES,
  checked before it is opened (core.input_files);
* where rcl differs between ROS 2 distros, the caller passes that distro's
  RclRules (valence_ros.offline.ros_distro finds out which); the default is the
  strictest of the supported distros: refuse what any of them refuses.

Checked against real rcl by test/test_params_file.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, cast

import yaml

from valence_ros.core.input_files import (
    MiB, InputFileError, StrPath, check_regular_file, read_regular_bytes, ros_args_files,
)

MAX_PARAMS_FILE_BYTES = 16 * MiB   # config/valence.yaml is 5 kB
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_NAME_TOKEN = re.compile(r"^(?:\*\*|\*|[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class RclRules:
    """What one ROS 2 distro's rcl_yaml_param_parser accepts where distros differ."""

    # A node key after `ros__parameters` in the same mapping, with parameters
    # below it, e.g. `/**: {ros__parameters: {...}, child: {ros__parameters: {x: 1}}}`:
    # Kilted reads `child` as a node one level down, Jazzy refuses the file
    # (and reads it when nothing below the key holds a parameter).
    node_key_after_ros_parameters: bool = False


STRICTEST_RULES = RclRules(node_key_after_ros_parameters=False)


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


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() in ("y", "yes", "true", "on")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | float:
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


def _what(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        return "no value" if _no_value(node) else f"the scalar {node.value!r}"
    return "a mapping"


def _no_value(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == "" and node.style is None


def _check_structure(document: yaml.Node | None, rules: RclRules) -> None:
    """Refuse what rcl's parser refuses about the file's shape: outside
    ros__parameters every value must be a mapping (node names and namespaces),
    ros__parameters itself must be a mapping, and inside it every parameter
    needs a value; a list holds scalars only (nested lists or mappings in a
    list, which rcl turns into odd names or unset parameters, are refused too)."""
    if document is None or isinstance(document, yaml.ScalarNode):
        return   # an empty file, or a lone scalar: rcl reads no parameters from it
    if isinstance(document, yaml.SequenceNode):
        raise ParamsFileError("the file is a list; expected a mapping of node names")
    _check_names(cast(yaml.MappingNode, document), top=True, rules=rules)   # a node is a scalar, list or mapping


def _check_names(mapping: yaml.MappingNode, top: bool, rules: RclRules) -> None:
    seen_parameters = False
    for key, value in mapping.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name is None:
            raise ParamsFileError("a node name or namespace must be a plain name, not a list or mapping")
        if name == "ros__parameters":
            if top:
                raise ParamsFileError("ros__parameters needs a node name above it")
            if not isinstance(value, yaml.MappingNode):
                raise ParamsFileError(f"ros__parameters holds {_what(value)}; expected a mapping "
                                      f"of parameter names to values")
            _check_parameters(value, "")
            seen_parameters = True
        elif isinstance(value, yaml.MappingNode):
            if seen_parameters and not rules.node_key_after_ros_parameters and _holds_parameters(value):
                raise ParamsFileError(f"node key {name!r} follows ros__parameters in the same mapping "
                                      f"(Jazzy's rcl refuses that; put it before ros__parameters)")
            _check_names(value, top=False, rules=rules)
        else:
            raise ParamsFileError(f"node or namespace key {name!r} holds {_what(value)}; expected a "
                                  f"mapping (nested names, ending in ros__parameters)")


def _holds_parameters(mapping: yaml.MappingNode) -> bool:
    """Whether a non-empty ros__parameters lies anywhere below (Jazzy's rcl fails on
    such a node key after ros__parameters, and reads an empty one)."""
    for key, value in mapping.value:
        if not isinstance(value, yaml.MappingNode):
            continue
        if isinstance(key, yaml.ScalarNode) and key.value == "ros__parameters":
            if value.value:
                return True
        elif _holds_parameters(value):
            return True
    return False


def _check_parameters(mapping: yaml.MappingNode, prefix: str) -> None:
    for key, value in mapping.value:
        if not isinstance(key, yaml.ScalarNode) or key.value == "":
            raise ParamsFileError(f"a parameter name under {prefix or 'ros__parameters'!r} is empty "
                                  f"or not a plain name")
        name = prefix + key.value
        if isinstance(value, yaml.MappingNode):
            _check_parameters(value, name + ".")
        elif _no_value(value):
            raise ParamsFileError(f"parameter {name!r} has no value")
        elif isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if not isinstance(item, yaml.ScalarNode):
                    raise ParamsFileError(f"parameter {name!r}: a list may hold only scalars, "
                                          f"not {_what(item)}")
                if _no_value(item):
                    raise ParamsFileError(f"parameter {name!r}: a list item has no value")


def _node_entries(document: Any, namespace: str = "") -> list[tuple[str, dict]]:
    """(node name pattern, its ros__parameters) for every node entry, in file order
    (the structure was checked by _check_structure)."""
    entries: list[tuple[str, dict]] = []
    if not isinstance(document, dict):
        return entries
    for key, value in document.items():
        if key == "ros__parameters":
            continue
        name = _join(namespace, str(key))
        parameters = value.get("ros__parameters")
        if isinstance(parameters, dict):
            entries.append((name, parameters))
        entries.extend(_node_entries(value, name))
    return entries


def _pattern_matches(pattern: str, node_fqn: str) -> bool:
    regex = re.escape(pattern).replace(r"/\*\*", "(?:/[^/]+)*").replace(r"\*", "[^/]+")
    return re.fullmatch(regex, node_fqn) is not None


def _flatten(parameters: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in parameters.items():
        if value == {} or value == []:
            flat[f"{prefix}{name}"] = None   # rcl: a parameter without a type (NOT_SET)
        elif isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            if isinstance(value, list) and len({type(v) for v in value}) > 1:
                raise ParamsFileError(f"parameter {prefix}{name!s}: the list mixes types "
                                      f"({', '.join(sorted({type(v).__name__ for v in value}))}); "
                                      f"rcl needs one type per list")
            flat[f"{prefix}{name}"] = value
    return flat


def read_node_parameters(path: str | Path, node_fqn: str, rules: RclRules = STRICTEST_RULES) -> dict[str, Any]:
    """All parameters the file gives the node `node_fqn` (e.g. "/robot1/valence_node"),
    read by `rules` where ROS 2 distros differ."""
    path = Path(path)
    try:
        text = read_regular_bytes(path, "params file", MAX_PARAMS_FILE_BYTES).decode("utf-8")
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=_RclScalarLoader)):
            raise ParamsFileError("YAML aliases (*name) are not supported (rcl refuses them)")
        _check_structure(yaml.compose(text, Loader=_RclScalarLoader), rules)
        document = yaml.load(text, Loader=_RclScalarLoader)
        entries = _node_entries(document)
        # rcl refuses the whole file for one bad entry, whichever node it is for
        flat = [(pattern, _flatten(parameters)) for pattern, parameters in entries]
    except (InputFileError, UnicodeDecodeError, yaml.YAMLError, ParamsFileError) as error:
        raise ParamsFileError(" ".join(str(error).split())) from None  # YAML errors span lines
    values: dict[str, Any] = {}
    for pattern, parameters in flat:
        if _pattern_matches(pattern, node_fqn):
            values.update(parameters)
    return values


def check_params_file(path: StrPath) -> Path:
    """The check every params file passes before anything opens it (the node's
    before rcl reads it, the analyser's before it is parsed): a regular file of
    at most MAX_PARAMS_FILE_BYTES. Raises InputFileError."""
    return check_regular_file(path, "params file", MAX_PARAMS_FILE_BYTES)


def check_ros_args_files(argv: Iterable[str] | None) -> None:
    """Check every file rcl would open from the command line (`--params-file`,
    `--log-config-file`) before rclpy.init(): rcl's fopen() on a FIFO blocks
    forever. Raises InputFileError naming the option and the path."""
    for option, path in ros_args_files(argv):
        try:
            if option == "--params-file":
                check_params_file(path)
            else:
                check_regular_file(path, "log config file")
        except InputFileError as error:
            raise InputFileError(f"{option} {error}") from None
