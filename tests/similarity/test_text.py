"""Report similarity (issue 27): the winnowing engine on reports' words flags a copied report,
not two independent ones, and not two that quote the same slides (the course's own text)."""
from __future__ import annotations

import random

from similarity import compare
from similarity.text import TEXT_SETTINGS, common_text, words

# Passages every student may quote from the assignment's slides, as the slides have them
# (similarity/report_common.txt).
SLIDES = [
    "ResNet is a deep convolutional neural network architecture developed by researchers at Microsoft Research.\n"
    'ResNet introduced the concept of "residual learning" to address the problem of vanishing gradients in very deep networks.\n'
    "The network uses skip connections to bypass one or more layers.",
    "The ResNet family consists of several models, such as ResNet-18, ResNet-34, ResNet-50, ResNet-101, and ResNet-152, with varying depths.\n"
    "Each residual block contains two or more convolutional layers and a shortcut connection that adds the input of the block directly to its output.\n"
    "This design enables very deep networks without the degradation problem, making it possible to build networks with hundreds of layers.",
    "CIFAR-10 stands for the Canadian Institute For Advanced Research.\n"
    "The dataset consists of 60,000 32x32 color images in 10 different classes.",
    "For each residual function F, we use a stack of 3 layers. The three layers are 1x1, 3x3 and 1x1 convolutions.",
    "You can use a trained checkpoint parameters of 285 epochs. You will train model only 1 epoch.",
]
VOCAB = ("we the model block layer residual training accuracy loss epoch batch learning rate result table "
         "figure shows our network downsample stride channel shortcut test observe higher lower because "
         "after before implemented bottleneck convolution checkpoint fine tune compare baseline reached "
         "percent improved discussion method experiment error setting value small large first second "
         "which while with without this that these those in on of for to and or but also then").split()


def prose(seed: int, sentences: int = 24) -> str:
    """A student's own words: sentences no one else writes (seeded), one per line as a PDF's text comes."""
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(VOCAB) for _ in range(rng.randint(9, 16))).capitalize() + "."
                     for _ in range(sentences))


def reworded(text: str, seed: int) -> str:
    """A copy with one word in twelve changed and the lines re-wrapped: what hiding a copy looks like."""
    rng = random.Random(seed)
    out = [("different" if rng.random() < 1 / 12 else w) for w in text.split()]
    return "\n".join(" ".join(out[i:i + 11]) for i in range(0, len(out), 11))


def test_a_copied_report_is_flagged_and_independent_ones_are_not() -> None:
    original = prose(1)
    texts = {"A1": original, "B2": reworded(original, 7), "C3": prose(3), "D4": prose(4)}
    report = compare(texts, exclude=[common_text()], settings=TEXT_SETTINGS, tokenizer=words)
    assert [(p.a, p.b) for p in report.pairs] == [("A1", "B2")]
    assert report.pairs[0].score >= TEXT_SETTINGS.threshold and report.pairs[0].a_ranges  # the shared passages are located


def test_the_slides_sentences_are_nobodys_copy() -> None:
    """Two reports mostly quoting the slides (in their own order), each with a little of its own:
    alike only while the slides are left in."""
    quoting = {"C3": "\n".join(SLIDES) + "\n" + prose(3, sentences=4),
               "D4": prose(4, sentences=4) + "\n" + "\n".join(SLIDES[2:] + SLIDES[:2])}
    assert compare(quoting, exclude=[common_text()], settings=TEXT_SETTINGS, tokenizer=words).pairs == []
    without = compare(quoting, settings=TEXT_SETTINGS, tokenizer=words)
    assert [(p.a, p.b) for p in without.pairs] == [("C3", "D4")]  # what the exclusion prevents


def test_words_ignore_case_punctuation_and_wrapping() -> None:
    a = words("Our ResNet-50 reaches 81.18 %\non the test set.")
    b = words("our resnet 50 reaches 81 18 on the\ntest   set")
    assert a.texts == b.texts and a.lines[-1] == 2 and b.lines[-1] == 2
