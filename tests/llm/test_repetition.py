"""switchyard.llm.repetition: loops are cut at their first repetition, good answers are untouched,
and the streamed result equals the whole-text result for any chunking."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchyard.llm.repetition import (
    RepetitionConfig,
    RepetitionGuard,
    cut_repetition,
    find_repetition,
    guard_stream,
)

SAMPLES = json.loads((Path(__file__).parent / "data" / "grounding_samples.json").read_text())


def chunkings(text: str, rng: random.Random, n: int = 60) -> Iterator[list[str]]:
    yield [text]
    yield list(text)  # one character at a time
    for _ in range(n):
        k = rng.randint(1, min(40, max(1, len(text) - 1)))
        cuts = sorted(rng.sample(range(1, len(text)), k=min(k, len(text) - 1))) if len(text) > 1 else []
        yield [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


# -- loops -------------------------------------------------------------------------------------

def test_repeated_sentence_is_cut_at_its_second_occurrence() -> None:
    text = ("You can change your profile picture by going to your profile settings. "
            "You can change your profile picture by going to your profile settings. "
            "You can change your profile picture by going to")
    kept, hit = cut_repetition(text)
    assert kept == "You can change your profile picture by going to your profile settings."
    assert hit is not None and hit.kind in {"sentence", "ngram"} and hit.first_at == 0


def test_run_on_loop_without_punctuation_is_cut() -> None:
    text = ("To reset your password, click Forgot password and enter your email and click the "
            "link and enter your email and click the link and enter your email and click the link")
    kept, hit = cut_repetition(text)
    assert hit is not None and hit.kind == "ngram"
    assert kept == "To reset your password, click Forgot password and enter your email and click the link"


def test_numbered_steps_that_repeat_are_cut_before_the_repeated_step() -> None:
    text = ("1. Open Profile.\n2. Upload an avatar (PNG or JPG, up to 2 MB).\n3. Click Save.\n"
            "4. Upload an avatar (PNG or JPG, up to 2 MB).\n5. Click Save.")
    kept, hit = cut_repetition(text)
    assert hit is not None
    assert kept == "1. Open Profile.\n2. Upload an avatar (PNG or JPG, up to 2 MB).\n3. Click Save."


def test_citation_markers_and_numbering_do_not_hide_a_repeat() -> None:
    text = "1. Click **Forgot password?** on the sign-in page [1]\n2. Click **Forgot password?** on the sign-in page [2]"
    kept, hit = cut_repetition(text)
    assert hit is not None and kept == "1. Click **Forgot password?** on the sign-in page [1]"


def test_near_copy_is_a_repeat() -> None:
    """One word changed in the middle: no 10-word run repeats, the sentence still does."""
    first = "Open the avatar menu in the top right corner and choose Profile to upload a picture."
    text = first + " Open the avatar menu in the top left corner and choose Profile to upload a picture."
    kept, hit = cut_repetition(text)
    assert hit is not None and hit.kind == "sentence"
    assert kept == first


def test_character_run_keeps_one_copy() -> None:
    kept, hit = cut_repetition("Done!!!!!!!!!!!!!!!!!!!!!!!!!!!!!")
    assert hit is not None and hit.kind == "chars" and kept == "Done!"


def test_short_sentence_may_appear_twice_not_three_times() -> None:
    two = "Click Save. Then open Settings and choose Billing. Click Save."
    assert find_repetition(two) is None
    kept, hit = cut_repetition(two + " Click Save.")
    assert hit is not None and kept == two


def test_a_long_unit_without_punctuation_is_still_judged() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    text = words + " " + words
    kept, hit = cut_repetition(text)
    assert hit is not None and kept == words


LOOPS = [k for k, v in SAMPLES.items() if v["label"]["loops"]]
CLEAN = [k for k, v in SAMPLES.items() if not v["label"]["loops"]]


def test_the_samples_cover_both_cases() -> None:
    baseline = [k for k in SAMPLES if k.startswith("smollm-baseline:")]
    # SmolLM2-135M with the product's prompt and settings today: 10 of its 11 answers loop.
    assert sum(1 for k in baseline if k in LOOPS) == 10 and len(baseline) == 11
    assert len(CLEAN) >= 60


@pytest.mark.parametrize("name", LOOPS)
def test_real_smollm2_loops_are_cut(name: str) -> None:
    """Answers SmolLM2-135M gave (tests/samples.json, read by hand): each repeats itself."""
    answer = SAMPLES[name]["answer"]
    kept, hit = cut_repetition(answer)
    assert hit is not None, name
    assert len(kept) < len(answer)
    assert find_repetition(kept) is None  # what is kept no longer repeats


@pytest.mark.parametrize("name", [k for k in SAMPLES if k.startswith("offline:")])
def test_offline_model_answers_are_untouched(name: str) -> None:
    """The offline (extractive) answers, with their "Sources:" lists of repeated titles."""
    answer = SAMPLES[name]["answer"]
    assert find_repetition(answer) is None, find_repetition(answer)
    assert cut_repetition(answer)[0] == answer


@pytest.mark.parametrize("name", [k for k in CLEAN if not k.startswith("offline:")])
def test_answers_that_do_not_loop_are_untouched(name: str) -> None:
    answer = SAMPLES[name]["answer"]
    assert find_repetition(answer) is None


def test_a_sources_list_with_repeated_titles_is_not_a_loop() -> None:
    text = ("Open the email and click **Reset password**. [2]\n\nSources:\n"
            "[1] Resetting your password (https://help.quillstack.example/articles/resetting-your-password)\n"
            "[2] Resetting your password (https://help.quillstack.example/articles/resetting-your-password)")
    assert find_repetition(text) is None


def test_a_template_loop_with_counting_numbers_is_cut() -> None:
    """SmolLM2 through the prototype, before the [n] markers were dropped from its prompt."""
    text = ("1. Go to [1] and click [2]\n2. Enter the email address of your Quillstack account and "
            "click [3]\n3. Click [4]\n4. Click [5]\n5. Click [6]\n6. Click [7]\n7. Click [8]\n8. Click [9]")
    kept, hit = cut_repetition(text)
    assert hit is not None and "Click [6]" not in kept


def test_a_run_of_citation_markers_is_cut() -> None:
    kept, hit = cut_repetition("The answer to the question is:\n\n[2] [2] [3] [4] [5] [6] [7] [8] [9] "
                               "[10] [11] [12] [13] [14] [15] [16] [17] [18] [19] [20]")
    assert hit is not None and kept.count("[") < 5


def test_a_phrase_shared_by_two_steps_is_not_a_loop() -> None:
    text = ("1. In **Admin > Users**, click **Send password reset** next to the user.\n"
            "2. The user opens the email and clicks **Reset password**.\n"
            "3. If the email does not arrive, check the spam folder and try again in an hour.")
    assert find_repetition(text) is None


# -- streaming ---------------------------------------------------------------------------------

STREAM_TEXTS = [
    "A reset link is valid for 30 minutes [1]. Request at most 3 emails per hour [1].\n\nSources: x",
    "You can change it. You can change it. You can change it. You can change it.",
    "Go to Profile and then to Profile and then to Profile and then to Profile and then to Profile",
    "1. Open Profile.\n2. Upload an avatar (PNG or JPG, up to 2 MB).\n3. Upload an avatar (PNG or JPG, up to 2 MB).",
    "Use quillstack.example's form. Don't reuse 3.5 GB. Use quillstack.example's form. Don't reuse 3.5 GB.",
    "Hmm!!!!!!!!!!!!!!!!!!!!!!!!! ok",
    "",
    "   \n\n  ",
]


@pytest.mark.parametrize("text", STREAM_TEXTS + [s["answer"] for s in SAMPLES.values()][::3])
def test_stream_equals_whole_text_for_any_chunking(text: str) -> None:
    kept, hit = cut_repetition(text)
    rng = random.Random(len(text))
    for chunks in chunkings(text, rng):
        got, got_hit = guard_stream(chunks)
        assert got == kept
        assert (got_hit is None) == (hit is None)
        if hit is not None and got_hit is not None:
            assert (got_hit.kind, got_hit.cut_at, got_hit.first_at) == (hit.kind, hit.cut_at, hit.first_at)


def test_stream_stops_reading_at_the_repetition_and_never_shows_it() -> None:
    sentence = "You can reset your password from the sign-in page. "
    read: list[int] = []

    def tokens() -> Iterator[str]:
        for i in range(400):  # a model looping until its budget
            read.append(i)
            yield from (w + " " for w in sentence.split())

    guard = RepetitionGuard()
    shown = ""
    for chunk in tokens():
        shown += guard.feed(chunk)
        assert "sign-in page. You" not in shown  # never any part of the repeat
        if guard.stopped:
            break
    shown += guard.finish()
    assert shown == sentence.strip()
    assert len(read) <= 2  # stopped within the second sentence


def test_stream_releases_text_before_the_end() -> None:
    """Whole units are shown as soon as they are safe (not only at finish())."""
    guard = RepetitionGuard(RepetitionConfig(ngram=6))
    out = guard.feed("Open the avatar menu in the top right corner. Choose Profile and upload a PNG. Then ")
    assert out.startswith("Open the avatar menu in the top right corner.")
    assert guard.text == out


def test_feed_after_finish_is_an_error() -> None:
    guard = RepetitionGuard()
    guard.feed("Fine.")
    assert guard.finish() == "Fine."
    with pytest.raises(RuntimeError):
        guard.feed("more")


def test_linear_enough_on_a_long_stream() -> None:
    import time
    text = " ".join(f"word{i}." for i in range(20000))
    start = time.perf_counter()
    guard = RepetitionGuard()
    for i in range(0, len(text), 7):
        guard.feed(text[i:i + 7])
    guard.finish()
    assert time.perf_counter() - start < 5.0
