"""Prompt expansion beside prompt fields (bridge/prompts.py + Session.expand) and the hosts' pure parts that use it:
Krita's form, Blender's controller offers; plus Blender's rule for pictures with transparency (line art)."""
from __future__ import annotations

import pytest

from muselink.bridge import protocol as P
from muselink.bridge.host import Applied
from muselink.bridge.jobs import CANCELLED, DONE, Policy
from muselink.bridge.payloads import BlobData, ImageData
from muselink.bridge.prompts import EXPANDER, PromptTarget, expansion_params
from muselink.bridge.schema import CapabilitySpec
from muselink.bridge.session import Session
from muselink.host_addons import hostspec
from muselink.host_addons.blender import pixels, wiring
from muselink.host_addons.blender.controller import Controller, JobRunner, UserError
from muselink.host_addons.krita.muselink_krita import form as krita_form
from test_session import Client, Host

REFINE = CapabilitySpec.from_json({
    "name": "image.refine", "inputs": [{"name": "image", "kind": "image"}],
    "params": [{"name": "prompt", "type": "text", "default": ""}, {"name": "negative_prompt", "type": "text"},
               {"name": "seed", "type": "seed", "min": 0, "max": 2**32 - 1}, {"name": "title", "type": "str"}]})
EXPAND = CapabilitySpec.from_json({
    "name": EXPANDER, "lane": "text", "outputs": [{"name": "text", "kind": "text"}],
    "params": [{"name": "prompt", "type": "text", "default": ""}, {"name": "seed", "type": "seed", "min": 0,
                                                                    "max": 2**31 - 1}]})
WORDS = "a castle at dawn, golden light, mist"


def session_for(caps=(REFINE, EXPAND), host=None, threaded=False):
    client, host = Client(), host or Host()
    session = Session(hostspec.host_manager(host), client=client, policy=Policy(hello="never"), threaded=threaded,
                      clock=lambda: 100.0)
    session.set_status(P.Status(protocol=1, daemon_version="t", capabilities=list(caps)))
    return session, client, host


def expanded(job_id, text=WORDS):
    return P.Result(job=job_id, payloads={"text": BlobData("text/plain; charset=utf-8", text.encode())}, meta={"seed": 5})


def test_prompt_fields_get_expand_only_when_the_daemon_offers_the_expander_and_the_host_places_text():
    """Only text params named prompt, only with an available text.expand_prompt, only in hosts that place text."""
    session, _, _ = session_for()
    assert session.expandable("image.refine") == ("prompt",) and session.expandable(EXPANDER) == ()
    assert session_for(caps=(REFINE,))[0].expandable("image.refine") == ()
    off = CapabilitySpec.from_json({**EXPAND.to_json(), "available": False, "unavailable_reason": "no model"})
    assert session_for(caps=(REFINE, off))[0].expandable("image.refine") == ()
    assert session_for(host=Host(applies=("image",)))[0].expandable("image.refine") == ()


def test_expansion_sends_the_field_text_and_seed_and_offers_the_result_without_touching_the_work():
    """Expand submits {prompt, seed} with no pictures; its progress carries the text so far; the result comes back as
    text for the form (Applied text named after the field) and no host hook places anything."""
    session, client, host = session_for()
    job = session.expand("image.refine", "prompt", "a castle at dawn", seed=5)
    handle, payloads, params, _ = client.sent[0]
    assert handle.capability == EXPANDER and payloads == {} and params == {"prompt": "a castle at dawn", "seed": 5}
    assert job.context == PromptTarget("image.refine", "prompt", "a castle at dawn", "prompt")
    client.reply(0, P.Progress(job="j1", fraction=0.4, message="a castle at dawn, golden"))
    session.tick()
    assert job.message == "a castle at dawn, golden"
    client.reply(0, expanded("j1"))
    outcome = session.tick()[0]
    assert job.state == DONE and outcome.ok and outcome.applied == [Applied("text", "prompt", handle=WORDS)]
    assert host.placed == []


def test_an_empty_prompt_or_a_field_that_is_no_prompt_is_refused_before_sending():
    """Nothing to expand, or a parameter without the action: a ValueError saying so, and nothing goes out."""
    session, client, _ = session_for()
    with pytest.raises(ValueError, match="type a prompt first"):
        session.expand("image.refine", "prompt", "   ")
    with pytest.raises(ValueError, match="'negative_prompt' of image.refine is not a prompt to expand"):
        session.expand("image.refine", "negative_prompt", "blurry")
    with pytest.raises(ValueError, match="no prompt expander"):
        session_for(caps=(REFINE,))[0].expand("image.refine", "prompt", "a cat")
    assert client.sent == []


def test_image_seeds_fold_into_the_expanders_range_and_random_stays_random():
    """A form's seed goes along (the same seed gives the same text); 'random' (below zero) is left to the daemon."""
    assert expansion_params("a cat", 2**32 - 1) == {"prompt": "a cat", "seed": 2**31 - 1}
    assert expansion_params("a cat", -1) == expansion_params("a cat", None) == {"prompt": "a cat"}
    assert expansion_params("a cat", True) == {"prompt": "a cat"}


def test_stopping_an_expansion_cancels_it_on_the_daemon_and_offers_nothing():
    """Cancel reaches the daemon; a cancelled expansion is not offered."""
    session, client, host = session_for()
    job = session.expand("image.refine", "prompt", "a castle")
    session.cancel(job)
    assert client.cancelled == ["j1"]
    client.reply(0, P.Cancelled(job="j1", reason="cancelled by the client"))
    outcome = session.tick()[0]
    assert job.state == CANCELLED and outcome.applied == [] and not host.placed


def test_krita_form_puts_expand_beside_the_prompt_boxes_it_is_given():
    """Krita's form marks only the text boxes the session names."""
    fields = krita_form.form_for(REFINE, ("prompt",))
    assert [f.name for f in fields if f.expand] == ["prompt"]
    assert not any(f.expand for f in krita_form.form_for(REFINE))


def test_blender_controller_offers_the_expansion_beside_its_field_until_it_is_used():
    """Blender: an expansion runs for one field at a time, its result is offered for that field, Use takes it once."""
    client = Client()
    runner = JobRunner("tcp://stand-in", make_client=lambda *_: client)
    runner._ensure_thread = lambda: None  # the test pumps
    ctl = Controller(runner, Host(applies=("image", "text")))
    ctl.session.set_status(P.Status(protocol=1, daemon_version="t", capabilities=[REFINE, EXPAND]))
    job = ctl.expand("image.refine", "prompt", "a castle at dawn", 5, "form")
    assert ctl.expansion("form") is job and ctl.expansion("generate") is None
    with pytest.raises(UserError, match="already being expanded"):
        ctl.expand("image.refine", "prompt", "a castle", None, "form")
    ctl.session.pump()
    client.reply(0, expanded("j1"))
    ctl.session.pump()
    ctl.tick()
    assert ctl.offers == {"form": WORDS} and ctl.expansion("form") is None
    assert ctl.take_offer("form") == WORDS and ctl.offers == {}
    with pytest.raises(UserError, match="no expanded prompt"):
        ctl.take_offer("form")


def test_blender_keeps_an_opaque_texture_when_the_result_has_transparency():
    """Line art (lines on transparent) goes beside the texture in a new node; an opaque result takes its place."""
    lines = ImageData(2, 1, 4, bytes([0, 0, 0, 255, 0, 0, 0, 0]))
    solid = ImageData(2, 1, 4, bytes([9, 9, 9, 255, 1, 2, 3, 255]))
    for use_numpy in (True, False):
        np_saved = pixels.np
        pixels.np = pixels.np if use_numpy else None
        try:
            assert not pixels.opaque(lines) and pixels.opaque(solid) and pixels.opaque(ImageData(1, 1, 3, b"abc"))
        finally:
            pixels.np = np_saved
    assert wiring.keeps_texture(True, False) and not wiring.keeps_texture(True, True)
    assert not wiring.keeps_texture(False, False)  # a texture with holes of its own: results replace it as before
    nodes = [wiring.NodeInfo("Texture", "TEX_IMAGE", "a.png", (-300.0, 0.0)),
             wiring.NodeInfo("Lines", "TEX_IMAGE", "a.lines", (-300.0, 300.0))]
    assert wiring.plan_beside(nodes, "Texture") == (-300.0, 600.0)
