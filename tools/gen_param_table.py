#!/usr/bin/env python3
"""Write the parameter tables of README.md and docs/node.md from the code's parameter specs.

The tables sit between markers, one pair per executable and style::

    <!-- BEGIN GENERATED: parameters valence_node (tools/gen_param_table.py) -->
    ...
    <!-- END GENERATED: parameters valence_node -->

"parameters valence_node" is the full table (docs/node.md); "parameters valence_node,
brief" the README's (each meaning's first sentence, without its parentheses). Each
ParamSource names the documents and styles it is rendered into; a missing pair of
markers is an error.

    python tools/gen_param_table.py            # rewrite the tables in place
    python tools/gen_param_table.py --check    # exit 1 and show a diff if any is stale

--check also compares each executable's params file (config/*.yaml) with its specs:
same names in the same order, same defaults (test/package/test_param_table.py runs it).
A new executable's parameters are one more ParamSource line in SOURCES and one pair of
markers in each document it names. The spec module must be importable without ROS (pure Python),
so the check runs anywhere. A spec needs `name`, `default`, `description`; it may have
`choices`, `minimum`/`maximum` and `dynamic` (as valence_ros.core.parameters.ParamSpec).
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ParamSource:
    executable: str                      # marker name, e.g. "valence_node"
    specs: str                           # "module:ATTRIBUTE", a sequence of parameter specs
    config: str | None                   # its params file (repository-relative), or None
    config_key: str                      # the params file's node key, e.g. "/**/valence_node"
    documents: tuple[tuple[str, str], ...]   # (document, "full" | "brief"): each must hold the markers


SOURCES: tuple[ParamSource, ...] = (
    ParamSource("valence_node", "valence_ros.core.parameters:PARAMETERS", "config/valence.yaml",
                "/**/valence_node", (("README.md", "brief"), ("docs/node.md", "full"))),
    ParamSource("valence_fer_node", "valence_ros.fer.parameters:FER_PARAMETERS",
                "config/valence.yaml", "/**/valence_fer_node",
                (("README.md", "compact"), ("docs/fer.md", "full"))),
)

BEGIN = "<!-- BEGIN GENERATED: parameters {name} (tools/gen_param_table.py) -->"
END = "<!-- END GENERATED: parameters {name} -->"


def load_specs(source: ParamSource) -> Sequence[Any]:
    module, _, attribute = source.specs.partition(":")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return getattr(importlib.import_module(module), attribute)


def type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "double"
    if isinstance(default, (list, tuple)):
        return "string[]"
    return "string"


def literal(default: Any) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, str):
        return '"' + default + '"'
    if isinstance(default, (list, tuple)):
        return "[" + ", ".join(literal(item) for item in default) + "]"
    return repr(default)


def allowed(spec: Any) -> str:
    choices = getattr(spec, "choices", None)
    if choices:
        return "one of " + ", ".join(f"`{choice}`" for choice in choices)
    if getattr(spec, "minimum", None) is not None:
        return f"[{spec.minimum}, {spec.maximum}]"
    if isinstance(spec.default, bool):
        return "true, false"
    return "see meaning"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def brief(description: str) -> str:
    """The first sentence, without parenthesised asides: "Seconds (node clock) without
    frames after which ... restarts. More." -> "Seconds without frames after which ... restarts." """
    text = description
    while True:
        shorter = re.sub(r"\s*\([^()]*\)", "", text)
        if shorter == text:
            break
        text = shorter
    text = re.sub(r"\s+([,;:.])", r"\1", text)
    match = re.match(r"(.*?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def render_compact(specs: Iterable[Any]) -> str:
    """style "compact" (README, for a node whose full table lives in docs/): one line of
    names and defaults, with the choices where there are some."""
    items = []
    for spec in specs:
        choices = getattr(spec, "choices", None)
        items.append(f"`{spec.name}` = `{cell(literal(spec.default))}`"
                     + (f" ({' / '.join(choices)})" if choices else ""))
    return "; ".join(items) + "."


def render_table(specs: Iterable[Any], style: str = "full") -> str:
    """style "full": every column and the whole meaning; "brief" (README): no type column,
    the meaning's first sentence; "compact": names and defaults only (render_compact)."""
    if style == "compact":
        return render_compact(specs)
    full = style == "full"
    rows = ["| Parameter | Type | Default | Allowed | Runtime change | Meaning |" if full else
            "| Parameter | Default | Allowed | Set at runtime | Meaning |",
            "|---|---|---|---|---|---|" if full else "|---|---|---|---|---|"]
    for spec in specs:
        dynamic = getattr(spec, "dynamic", False)
        columns = [f"`{spec.name}`"] + ([type_name(spec.default)] if full else [])
        columns += [f"`{cell(literal(spec.default))}`",
                    cell(allowed(spec)) if full or allowed(spec) != "see meaning" else "",
                    ("yes" if dynamic else "no (read-only)") if full else ("yes" if dynamic else "no"),
                    cell(spec.description if full else brief(spec.description))]
        rows.append("| " + " | ".join(columns) + " |")
    return "\n".join(rows)


def replace_section(text: str, name: str, table: str) -> tuple[str, int]:
    """`text` with the section between `name`'s markers set to `table`; (text, sections found)."""
    pattern = re.compile(re.escape(BEGIN.format(name=name)) + r"\n.*?" + re.escape(END.format(name=name)),
                         re.S)
    block = BEGIN.format(name=name) + "\n" + table + "\n" + END.format(name=name)
    return pattern.subn(lambda _: block, text)


def config_problems(source: ParamSource, specs: Sequence[Any], root: Path = REPO) -> list[str]:
    import yaml
    path = root / source.config
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))[source.config_key]["ros__parameters"]
    except (OSError, KeyError, TypeError) as error:
        return [f"{source.config}: no {source.config_key}/ros__parameters ({error})"]
    problems = []
    if list(values) != [spec.name for spec in specs]:
        problems.append(f"{source.config}: parameter names or order differ from {source.specs}: "
                        f"{list(values)} != {[spec.name for spec in specs]}")
    for spec in specs:
        if spec.name in values and (values[spec.name] != spec.default
                                    or type(values[spec.name]) is not type(spec.default)):
            problems.append(f"{source.config}: {spec.name} = {values[spec.name]!r}, "
                            f"default in {source.specs} is {spec.default!r}")
    return problems


def marker_name(executable: str, style: str) -> str:
    return executable if style == "full" else f"{executable}, {style}"


def run(check: bool, sources: Sequence[ParamSource] = SOURCES, root: Path = REPO) -> list[str]:
    """Rewrite (or, with check, compare) every document; the problems found, [] when all agree."""
    problems: list[str] = []
    tables: dict[str, list[tuple[str, str]]] = {}   # document -> [(marker name, table)]
    for source in sources:
        specs = load_specs(source)
        if check and source.config is not None:
            problems += config_problems(source, specs, root)
        for document, style in source.documents:
            tables.setdefault(document, []).append(
                (marker_name(source.executable, style), render_table(specs, style)))
    for document, sections in tables.items():
        path = root / document
        old = path.read_text(encoding="utf-8")
        new = old
        for name, table in sections:
            new, found = replace_section(new, name, table)
            if found != 1:
                problems.append(f"{document}: {found} generated sections 'parameters {name}'; exactly one "
                                f"belongs there (markers missing?)")
        if new == old:
            continue
        if check:
            diff = difflib.unified_diff(old.splitlines(), new.splitlines(), document,
                                        document + " (generated)", lineterm="", n=0)
            problems.append(f"{document}: parameter table is stale; run tools/gen_param_table.py\n"
                            + "\n".join(diff))
        else:
            path.write_text(new, encoding="utf-8")
            print(f"gen_param_table: wrote {document}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a table or params file disagrees with the specs")
    args = parser.parse_args(argv)
    problems = run(args.check)
    for problem in problems:
        print(f"gen_param_table: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
