"""Capability parameter schemas: coercion, defaults and errors that name the parameter."""
import pytest

from muselink.bridge.payloads import ImageData, NotesData
from muselink.core.capability import Capability, InputSpec, JobOutput, Param

CAP = Capability(
    name="t.cap", summary="test", run=lambda i, p, c: JobOutput({}),
    params=(Param("steps", "int", 4, min=1, max=50), Param("strength", "float", 0.5, min=0, max=1),
            Param("tiling", "choice", "none", choices=("none", "x", "y", "both")), Param("fast", "bool", False),
            Param("prompt", "text", ""), Param("mix", "weights", None, choices=("a", "b"))),
    inputs=(InputSpec("image", "image"), InputSpec("mask", "mask", required=False)))
IMG = {"image": ImageData(1, 1, 4, b"\0\0\0\0")}


def test_defaults_fill_missing_parameters():
    """Parameters not given take their schema defaults."""
    assert CAP.validate({}, IMG) == {"steps": 4, "strength": 0.5, "tiling": "none", "fast": False,
                                     "prompt": "", "mix": None}


def test_strings_from_the_command_line_are_coerced():
    """CLI strings become ints, floats, bools and weight dicts."""
    clean = CAP.validate({"steps": "7", "strength": "0.25", "fast": "yes", "mix": "a:0.7,b:0.3"}, IMG)
    assert (clean["steps"], clean["strength"], clean["fast"], clean["mix"]) == (7, 0.25, True, {"a": 0.7, "b": 0.3})


@pytest.mark.parametrize("params, fragment", [
    ({"steps": 0}, "parameter 'steps' must be between 1 and 50"),
    ({"steps": "many"}, "parameter 'steps' must be an integer"),
    ({"steps": True}, "parameter 'steps' must be an integer"),
    ({"strength": "x"}, "parameter 'strength' must be a number"),
    ({"tiling": "diagonal"}, "parameter 'tiling' must be one of none, x, y, both"),
    ({"fast": "maybe"}, "parameter 'fast' must be true or false"),
    ({"mix": "c:1"}, "unknown name 'c'"),
    ({"mix": "a:0"}, "must not all be zero"),
    ({"colour": 1}, "unknown parameter 'colour'"),
])
def test_bad_parameter_is_refused_naming_it(params, fragment):
    """A bad value raises ValueError whose message names the parameter and the rule."""
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        CAP.validate(params, IMG)


def test_missing_and_mistyped_inputs_are_refused():
    """A required input must be present, with the right kind; unknown inputs are named."""
    with pytest.raises(ValueError, match="needs input 'image'"):
        CAP.validate({}, {})
    with pytest.raises(ValueError, match="input 'image' must be image, got notes"):
        CAP.validate({}, {"image": NotesData()})
    with pytest.raises(ValueError, match="unknown input 'style'"):
        CAP.validate({}, {**IMG, "style": IMG["image"]})


def test_schema_is_json_with_types_defaults_and_ranges():
    """to_json carries everything a host needs to build a form."""
    data = CAP.to_json()
    steps = next(p for p in data["params"] if p["name"] == "steps")
    assert steps == {"name": "steps", "type": "int", "default": 4, "help": "", "min": 1, "max": 50}
    assert data["inputs"][1] == {"name": "mask", "kind": "mask", "required": False, "help": ""}
    assert data["available"] is True and data["lane"] == "interactive"


def test_a_capability_whose_schema_cannot_be_sent_is_left_out_not_fatal():
    """A plugin declaring unsendable choices (not strings or numbers) loses that capability; status still decodes."""
    from muselink.core.hookspecs import hookimpl
    from muselink.core.registry import Registry

    class Odd:
        @hookimpl
        def muselink_capabilities(self):
            return [Capability(name="odd.cap", summary="", run=lambda i, p, c: JobOutput({}),
                               params=(Param("x", "choice", None, choices=({"a": 1},)),)), CAP]

    registry = Registry(load_entry_points=False, builtins=())
    registry.register(Odd(), "odd")
    assert list(registry.capabilities) == ["t.cap"]
