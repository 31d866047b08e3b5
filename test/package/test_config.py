"""config/valence.yaml lists every parameter of the PARAMETERS table, with its default
and a comment, so the file and the code cannot drift apart."""
from __future__ import annotations

from pathlib import Path

import yaml

from valence_ros.core.parameters import DEFAULTS, PARAMETERS, load_params_file

CONFIG = Path(__file__).resolve().parents[2] / "config" / "valence.yaml"


def entry(node: str = "valence_node"):
    document = yaml.safe_load(CONFIG.read_text())
    assert list(document) == ["/**/valence_node", "/**/valence_fer_node"], \
        "one entry per node (valence_node, valence_fer_node), each in any namespace"
    return document[f"/**/{node}"]["ros__parameters"]


def test_yaml_keys_equal_the_parameter_table_in_order():
    assert list(entry()) == [spec.name for spec in PARAMETERS]


def test_yaml_values_equal_the_defaults():
    values = entry()
    for spec in PARAMETERS:
        assert values[spec.name] == spec.default, spec.name
        assert type(values[spec.name]) is type(spec.default), spec.name  # 1.0, not 1


def test_every_parameter_has_a_comment_and_use_sim_time_is_hinted():
    lines = CONFIG.read_text().splitlines()
    for spec in PARAMETERS:
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(spec.name + ":"))
        assert lines[index - 1].strip().startswith("#"), f"no comment above {spec.name}"
    assert any(line.strip() == "# use_sim_time: true" for line in lines)


def test_load_params_file_reads_it_as_the_defaults():
    assert load_params_file(CONFIG) == DEFAULTS
    assert load_params_file(CONFIG, node_fqn="/robot1/valence_node") == DEFAULTS


# valence_fer_node's section: the same three checks against its own table.
def test_fer_node_section_equals_its_parameter_table():
    from valence_ros.ros.fer_parameters import FER_PARAMETERS, validate_fer_parameters
    values = entry("valence_fer_node")
    assert list(values) == [spec.name for spec in FER_PARAMETERS]
    for spec in FER_PARAMETERS:
        assert values[spec.name] == spec.default, spec.name
        assert type(values[spec.name]) is type(spec.default), spec.name
    assert validate_fer_parameters(values) == values
    lines = CONFIG.read_text().splitlines()
    start = lines.index("/**/valence_fer_node:")
    for spec in FER_PARAMETERS:
        index = next(i for i, line in enumerate(lines)
                     if i > start and line.strip().startswith(spec.name + ":"))
        assert lines[index - 1].strip().startswith("#"), f"no comment above {spec.name}"


def test_fer_node_section_does_not_reach_valence_node():
    from valence_ros.core.params_file import read_node_parameters
    assert set(read_node_parameters(CONFIG, "/valence_node")) == {spec.name for spec in PARAMETERS}
