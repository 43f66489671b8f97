"""The generation stages, one spelling each: a `Stage` is the name the database keeps; its
collecting step (run tag, job), its request asset and its collecting asset follow from it."""

from __future__ import annotations

from enum import StrEnum

REQUESTS_STEP = "requests"  # the step that submits what every stage still needs


class Stage(StrEnum):
    """A stage of a script's generation (equal to its name as a string)."""

    KEYFRAME = "keyframe"
    CLIP = "clip"
    SOUNDTRACK = "soundtrack"
    NARRATION = "narration"

    @property
    def step(self) -> str:
        """The collecting step: its run tag, its job's key, and its collecting asset's name."""
        return _COLLECTING[self]

    @property
    def collected_asset(self) -> str:
        return _COLLECTING[self]

    @property
    def requests_asset(self) -> str:
        """The asset that submits the stage's predictions."""
        return f"{self.value}_request" if self is Stage.SOUNDTRACK else f"{self.value}_requests"


_COLLECTING = {
    Stage.KEYFRAME: "keyframes",
    Stage.CLIP: "clips",
    Stage.SOUNDTRACK: "soundtrack",
    Stage.NARRATION: "narrations",
}
COLLECTING_STEPS = frozenset(_COLLECTING.values())
