"""Captions made from class labels, for text-conditional benchmarks on the labelled sets (mnist, digits, ...).

Each image gets one caption: a template filled with its class's words and an attribute, both drawn with a seeded
generator that looks at no image (``caption_labels``). Training uses ``TEMPLATES``; evaluation prompts come from
``HELDOUT_TEMPLATES``, which no training caption uses, so prompt accuracy measures more than template recall.

For a private set, its captions are private data like its labels: they are made in memory and reach training only
through DP-SGD; nothing here writes them.
"""

from __future__ import annotations

import numpy as np

from dpldm.data.images import LabelledImages

TEMPLATES = ("a photo of a {adj} {name}", "a {adj} {name}", "an image of a {name}", "a picture of a {adj} {name}",
             "{name}, {adj}", "a {name} on a plain background")
HELDOUT_TEMPLATES = ("a drawing of a {adj} {name}", "this is a {name}", "a close-up of a {adj} {name}")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Attributes by the kind of set: handwriting for digit sets, tones and sizes otherwise.
DIGIT_ATTRIBUTES = ("handwritten", "small handwritten", "thin handwritten", "bold handwritten", "neat handwritten")
OBJECT_ATTRIBUTES = ("dark", "light", "small", "plain", "grey")


def class_words(class_names: tuple[str, ...]) -> tuple[list[str], tuple[str, ...]]:
    """(words for each class, the attributes) -- for character sets (digits, letters, or both, as the glyphs),
    digits become words ("7" -> "seven") and letters "letter k", so a public glyph set and the private digits
    caption the same class with the same words."""
    if all(len(name) == 1 and name.isalnum() for name in class_names):
        words = [DIGIT_WORDS[int(name)] if name.isdigit() else f"letter {name.lower()}" for name in class_names]
        return words, DIGIT_ATTRIBUTES
    return [name.replace("/", " or ").lower() for name in class_names], OBJECT_ATTRIBUTES


def caption(template: str, name: str, attribute: str) -> str:
    return " ".join(template.format(adj=attribute, name=name).split())


def caption_labels(data: LabelledImages, *, seed: int = 0, templates: tuple[str, ...] = TEMPLATES) -> LabelledImages:
    """``data`` with one caption per image from its label: a template and an attribute drawn per image from
    ``seed`` alone."""
    words, attributes = class_words(data.class_names)
    rng = np.random.default_rng([seed, 0xCA9])
    which = rng.integers(len(templates), size=len(data))
    attr = rng.integers(len(attributes), size=len(data))
    texts = tuple(caption(templates[t], words[y], attributes[a]) for t, y, a in zip(which, data.labels, attr))
    return LabelledImages(data.images, data.labels, data.class_names, data.name, texts)


def heldout_prompts(class_names: tuple[str, ...], per_class: int = 1, *, seed: int = 0) -> list[tuple[int, str]]:
    """(class, prompt) pairs from the held-out templates, ``per_class`` for each class, in class order."""
    words, attributes = class_words(class_names)
    rng = np.random.default_rng([seed, 0x9E1D])
    pairs = []
    for y, name in enumerate(words):
        for k in range(per_class):
            template = HELDOUT_TEMPLATES[k % len(HELDOUT_TEMPLATES)]
            pairs.append((y, caption(template, name, attributes[int(rng.integers(len(attributes)))])))
    return pairs
