"""``text.write``: short free text — a title, a scene description, or a four-line verse.

Plain sampling (temperature, nucleus, repetition penalty) with two hard stops: ``max_tokens`` and the
form's own end (a title ends at its first line, a verse after four non-empty lines). Control tokens
other than the end of the answer are never sampled. Every token is reported as it comes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .decode import Sampler, masks
from .model import TextModel

KINDS = ("title", "scene", "verse")
PROMPTS = {
    "title": "Write one short, evocative title for {topic}. Answer with the title only.",
    "scene": "Describe this scene in a few vivid sentences: {topic}.",
    "verse": "Write a four-line poem about {topic}.",
}


@dataclass
class Written:
    text: str
    tokens: int
    stop: str  # end, form, max_tokens


def tidy(kind: str, text: str) -> str:
    text = text.strip()
    if kind == "title":
        text = text.splitlines()[0] if text else text
        text = text.strip().strip('"“”*#').strip()
    elif kind == "verse":
        text = "\n".join([line.strip() for line in text.splitlines() if line.strip()][:4])
    return text


def _form_done(kind: str, text: str) -> bool:
    if kind == "title":
        return "\n" in text.strip()
    if kind == "verse":
        return len([line for line in text.split("\n")[:-1] if line.strip()]) >= 4
    return False


def write(model: TextModel, kind: str, topic: str, seed: int, temperature: float, top_p: float,
          max_tokens: int, check: Callable[[], None], report: Callable[[float, str], None]) -> Written:
    if kind not in KINDS:
        raise ValueError(f"parameter 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    topic = topic.strip() or "a walk by the sea at night"
    session = model.session()
    sampler = Sampler(seed, temperature, top_p, repetition_penalty=1.15)
    m = masks(model)
    allowed = m.text.copy()
    allowed[list(m.eos)] = True
    check()
    session.feed(model.chat(PROMPTS[kind].format(topic=topic)))
    out: list[int] = []
    stop = "max_tokens"
    while len(out) < max_tokens:
        token = sampler.pick(session.logits(), allowed)
        if token in m.eos:
            stop = "end"
            break
        out.append(token)
        sampler.used.add(token)
        text = model.vocab.text(out)
        if _form_done(kind, text):
            stop = "form"
            break
        report(len(out) / max_tokens, text)  # raises JobCancelled when the job was cancelled
        check()
        session.feed([token])
    return Written(tidy(kind, model.vocab.text(out)), len(out), stop)
