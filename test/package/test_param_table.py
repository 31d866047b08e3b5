"""The parameter tables in README.md and docs/node.md are generated from the code's specs
(tools/gen_param_table.py); these tests fail when a table, config/valence.yaml or the
specs disagree, and check that the generator itself notices."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "gen_param_table.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_param_table", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_param_table"] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gen_param_table", None)


def test_readme_docs_and_config_agree_with_the_parameter_specs():
    result = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_every_parameter_appears_in_both_documents(gen):
    from valence_ros.core.parameters import PARAMETERS
    for document, _ in gen.SOURCES[0].documents:
        text = (REPO / document).read_text(encoding="utf-8")
        for spec in PARAMETERS:
            assert f"| `{spec.name}` |" in text, f"{spec.name} missing from {document}"


# A second executable's spec module, in the shape the generator reads (as ParamSpec).
EXAMPLE_SPECS = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    name: str
    default: object
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    dynamic: bool = False


PARAMETERS = (
    Spec("rate", 15.0, "Frames per second (of the camera). Higher costs more.", 1.0, 60.0, dynamic=True),
    Spec("mode", "fast", "How to run.", choices=("fast", "exact")),
    Spec("enabled", True, "Whether to run at all."),
    Spec("labels", ["a", "b"], "Label names | with a pipe."),
)
"""


def example_tree(tmp_path: Path, gen, with_tables: bool = True) -> tuple[list, Path]:
    """A repository with one document, one params file and a second spec source."""
    (tmp_path / "example_fer_specs.py").write_text(EXAMPLE_SPECS)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "fer.yaml").write_text(
        "/**/fer_node:\n  ros__parameters:\n    rate: 15.0\n    mode: fast\n    enabled: true\n"
        "    labels: [a, b]\n")
    markers = "\n".join(f"{gen.BEGIN.format(name=n)}\nold\n{gen.END.format(name=n)}"
                        for n in ("fer_node", "fer_node, brief")) if with_tables else "nothing"
    (tmp_path / "doc.md").write_text(f"# Doc\n\n{markers}\n\ntext after\n")
    sources = [gen.ParamSource("fer_node", "example_fer_specs:PARAMETERS", "config/fer.yaml",
                               "/**/fer_node", (("doc.md", "full"), ("doc.md", "brief")))]
    return sources, tmp_path / "doc.md"


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("example_fer_specs", None)


def test_a_new_source_is_one_line_and_rendered_in_both_styles(tmp_path, gen, on_path):
    sources, doc = example_tree(tmp_path, gen)
    assert gen.run(check=True, sources=sources, root=tmp_path)  # stale: "old"
    assert gen.run(check=False, sources=sources, root=tmp_path) == []
    assert gen.run(check=True, sources=sources, root=tmp_path) == []
    text = doc.read_text()
    assert "old" not in text and text.endswith("text after\n")
    assert ("| `rate` | double | `15.0` | [1.0, 60.0] | yes | "
            "Frames per second (of the camera). Higher costs more. |") in text
    assert "| `rate` | `15.0` | [1.0, 60.0] | yes | Frames per second. |" in text      # brief
    assert "| `mode` | string | `\"fast\"` | one of `fast`, `exact` | no (read-only) |" in text
    assert "| `enabled` | bool | `true` | true, false |" in text
    assert "| `labels` | string[] | `[\"a\", \"b\"]` | see meaning |" in text
    assert "Label names \\| with a pipe." in text   # a pipe cannot break the table


def test_check_names_a_stale_table_and_a_config_that_drifted(tmp_path, gen, on_path):
    sources, doc = example_tree(tmp_path, gen)
    gen.run(check=False, sources=sources, root=tmp_path)
    doc.write_text(doc.read_text().replace("[1.0, 60.0]", "[1.0, 30.0]", 1))
    config = tmp_path / "config" / "fer.yaml"
    config.write_text(config.read_text().replace("rate: 15.0", "rate: 15"))
    problems = gen.run(check=True, sources=sources, root=tmp_path)
    assert any("doc.md: parameter table is stale" in p and "[1.0, 30.0]" in p for p in problems), problems
    assert any("config/fer.yaml: rate = 15" in p for p in problems), problems
    assert "[1.0, 30.0]" in doc.read_text(), "--check must not write"


def test_a_document_without_markers_is_a_problem(tmp_path, gen, on_path):
    sources, _ = example_tree(tmp_path, gen, with_tables=False)
    problems = gen.run(check=True, sources=sources, root=tmp_path)
    assert any("0 generated sections 'parameters fer_node'" in p for p in problems), problems
    assert any("0 generated sections 'parameters fer_node, brief'" in p for p in problems), problems


def test_brief_keeps_the_first_sentence_without_asides(gen):
    assert gen.brief("Seconds (node clock; sim time) without frames. More (x).") == "Seconds without frames."
    assert gen.brief("a (b (c) d) e") == "a e"
    assert gen.brief("No full stop; 0 = off") == "No full stop; 0 = off"
