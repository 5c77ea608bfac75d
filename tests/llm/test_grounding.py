"""switchyard.llm.grounding on real answers and on hand-made cases for each rule.

data/grounding_samples.json holds 113 answers: SmolLM2-135M's through the product at 34a54c8
(``smollm-baseline:``) and under the prompt/sampling variants tried (``smollm-variant:``,
``smollm-recommended:``), and the offline model's to the same requests (``offline:``), each with
the exact passages, account snapshot and action result it was given, and its verdict read by hand
(``label``)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from switchyard.llm.grounding import check_grounding, extractive_answer, figures
from switchyard.llm.repetition import cut_repetition

SAMPLES = json.loads((Path(__file__).parent / "data" / "grounding_samples.json").read_text())


def verdict(name: str, answer: str | None = None):  # noqa: ANN201
    s = SAMPLES[name]
    return check_grounding(s["answer"] if answer is None else answer, s["passages"], s["facts"],
                           question=s["question"])


# -- real answers ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [k for k in SAMPLES if k.startswith("offline:")])
def test_offline_model_answers_pass(name: str) -> None:
    """Extractive answers built from the same passages, account and action must never be
    replaced (the offline "nothing found" answer counts as an abstention)."""
    v = verdict(name)
    assert v.ok, (name, v.reasons)


@pytest.mark.parametrize("name", [k for k in SAMPLES if k.startswith("smollm-baseline:")])
def test_todays_smollm2_answers_fail(name: str) -> None:
    """Every answer SmolLM2 gave with today's prompt and settings is replaced, even once its
    loop is cut off (what the product would check)."""
    answer = SAMPLES[name]["answer"]
    assert not verdict(name).ok
    assert not verdict(name, cut_repetition(answer)[0]).ok, name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_gets_its_reviewed_verdict(name: str) -> None:
    assert verdict(name).status == SAMPLES[name]["label"]["grounding"], SAMPLES[name]["answer"]


@pytest.mark.parametrize("name", [
    "smollm-recommended:how-do-i-reset-my-password",  # the recommended prompt: the real steps
    "smollm-variant:how-do-i-reset-my-password#47",
    "smollm-variant:what-is-my-account-balance#3",    # "Your account balance is 1687.84."
])
def test_good_smollm2_answers_pass(name: str) -> None:
    assert verdict(name).status == "grounded"


@pytest.mark.parametrize("name,reason", [
    ("smollm-variant:what-is-my-account-balance#12", "contradicts the facts"),   # $230.59
    ("smollm-variant:what-is-12-times-13#9", "figures not in the evidence"),     # "= 19"
    ("smollm-variant:which-url-do-i-use-to-log-in-to-the-eu-w#37", "URLs"),      # quillstack.eu
    ("smollm-variant:an-invited-user-says-they-can-t-find-the#35", "identifiers"),
    ("smollm-baseline:an-invited-user-says-they-can-t-find-the", "placeholders"),
    ("smollm-variant:how-do-i-reset-my-password#10", "support"),                 # web browser...
    ("smollm-variant:where-s-the-button-to-turn-on-a-workflow#5", "phrase support"),  # an echo
])
def test_bad_smollm2_answers_fail_for_the_right_reason(name: str, reason: str) -> None:
    v = verdict(name)
    assert v.status == "ungrounded"
    assert any(reason in r for r in v.reasons), v.reasons


def test_the_recommended_password_answer_says_forgot_password() -> None:
    answer = SAMPLES["smollm-recommended:how-do-i-reset-my-password"]["answer"]
    assert "Forgot password" in answer


# -- each rule on hand-made answers ------------------------------------------------------------

PASSAGES = [
    {"title": "Resetting your password",
     "text": "Resetting your password > Request a reset link\n\n1. On the sign-in page, click "
             "**Forgot password?**\n2. Enter the email address of your Quillstack account and click "
             "**Send reset link**.\n3. Open the email from no-reply@quillstack.example and click "
             "**Reset password**.\nA reset link is valid for **30 minutes** and can be used only once."},
    {"title": "Managing your profile",
     "text": "Open it from the avatar menu in the top-right corner and choose **Profile**. Upload an "
             "avatar (PNG or JPG, up to 2 MB)."},
]
FACTS = {"balance_due": 1687.84, "seats_used": 29, "seats": 38, "plan": "Team",
         "next_invoice_date": "2026-12-01"}


def check(answer: str, question: str = "How do I reset my password?"):  # noqa: ANN201
    return check_grounding(answer, PASSAGES, FACTS, question=question)


def test_a_faithful_paraphrase_with_citations_passes() -> None:
    """What a larger model would write: reworded, cited, every figure from the passage."""
    v = check("Click **Forgot password?** on the sign-in page and enter your account's email to get "
              "a reset link [1]. Open the email from no-reply@quillstack.example and click **Reset "
              "password**; the link is valid for 30 minutes [1].")
    assert v.status == "grounded", v.reasons


def test_an_uncited_but_copied_answer_passes() -> None:
    v = check("On the sign-in page, click Forgot password? and enter the email address of your "
              "Quillstack account.")
    assert v.ok and v.scores.citations == ()


def test_invented_steps_fail_on_support() -> None:
    v = check("Go to Settings > Security and click Change Password. A confirmation code is sent "
              "to your phone by SMS.")
    assert v.status == "ungrounded"
    assert v.scores.support is not None and v.scores.support < 0.75


def test_a_figure_not_in_the_evidence_fails() -> None:
    v = check("Click Forgot password? on the sign-in page; the reset link is valid for 24 hours [1].")
    assert v.status == "ungrounded" and "24" in v.scores.unsupported_numbers


def test_an_invented_citation_fails() -> None:
    v = check("Click **Forgot password?** on the sign-in page [3].")
    assert v.status == "ungrounded" and v.scores.invalid_citations == (3,)


def test_a_stated_fact_that_differs_from_the_account_is_a_contradiction() -> None:
    q = "What is my account balance?"
    assert check("Your balance due is $1,687.84.", q).status == "grounded"
    v = check("Your balance is $1,200.00 and you use 29 of 38 seats.", q)
    assert v.status == "ungrounded" and v.scores.contradictions
    # A figure that is in the passages but is not the balance is still a contradiction.
    v = check("Your balance is 30.", q)
    assert v.scores.contradictions and not v.scores.unsupported_numbers


def test_dates_compare_as_dates() -> None:
    q = "When is my next invoice?"
    assert check("Your next invoice date is December 1, 2026.", q).status == "grounded"
    v = check("Your next invoice date is 2026-11-01.", q)
    assert v.status == "ungrounded" and v.scores.contradictions


def test_the_account_snapshot_said_back_is_grounded() -> None:
    """The offline model's own rendering of the snapshot: an ISO date is a date, not the number
    2026 beside it, and a decimal point does not end a clause (regression: every fast answer
    for a signed-in user with invoices was replaced and never cached)."""
    q = "How do I export my invoices as a CSV file?"
    snapshot = ("Your account: last invoice number: 5268; last invoice amount: 1687.84; last "
                "invoice status: past_due; last invoice date: 2026-11-01; next invoice date: "
                "2026-12-01.")
    facts = ["last_invoice_number: 5268", "last_invoice_amount: 1687.84",
             "last_invoice_status: past_due", "last_invoice_date: 2026-11-01",
             "next_invoice_date: 2026-12-01"]
    v = check_grounding(snapshot, PASSAGES, facts, question=q)
    assert v.ok and not v.scores.contradictions and not v.scores.unsupported_numbers, v.reasons
    assert [f.value for f in figures("last invoice date: 2026-11-01")] == [date(2026, 11, 1)]
    # The same snapshot with another amount is still caught.
    v = check_grounding(snapshot.replace("1687.84", "1200.00"), PASSAGES, facts, question=q)
    assert not v.ok and v.scores.contradictions


def test_number_words_are_figures() -> None:
    assert [f.value for f in figures("at least twelve characters, 3 emails, $20.5k")] == [3.0, 20500.0, 12.0]
    v = check("The reset link is valid for thirty minutes [1].")
    assert v.ok
    assert check("The reset link is valid for forty minutes [1].").status == "ungrounded"


def test_an_echo_of_the_question_fails() -> None:
    v = check("To reset your password, you reset your password.")
    assert v.status == "ungrounded"
    assert any("no content beyond" in r for r in v.reasons)


@pytest.mark.parametrize("answer", ["The answer is:", "Billing.", "Yes."])
def test_an_answer_with_nothing_in_it_fails(answer: str) -> None:
    """SmolLM2 through the prototype's bench: "The answer is:" for a password question."""
    assert check(answer).status == "ungrounded"


def test_an_honest_cannot_tell_is_an_abstention_not_a_replacement() -> None:
    v = check("I couldn't find that in the help center. Could you tell me which workspace?",
              "Why was my card declined?")
    assert v.status == "abstained" and v.ok
    # ... but not when it carries figures.
    assert check("I couldn't find that, but it is usually 5 days.", "Refunds?").status == "ungrounded"


def test_meta_text_is_not_judged() -> None:
    v = check("Click **Forgot password?** on the sign-in page. [1]\n\nSources:\n[1] Resetting your "
              "password (https://help.quillstack.example/articles/resetting-your-password)\n\n"
              "_(switchyard offline model standing in for gpt-4o-mini on the fast tier.)_")
    assert v.status == "grounded", v.reasons


def test_nothing_to_ground_in() -> None:
    v = check_grounding("Quillstack has 1000 employees.", [], None, question="Fun fact?")
    assert v.status == "ungrounded"


def test_verdict_serialises_for_the_record() -> None:
    d = check("Click **Forgot password?** on the sign-in page [1].").to_dict()
    assert d["status"] == "grounded" and d["citations"] == [1] and "support" in d
    json.dumps(d)


def test_the_extractive_replacement_is_grounded_and_cited() -> None:
    s = SAMPLES["smollm-baseline:how-do-i-reset-my-password"]
    account = dict(f.split(": ", 1) for f in s["facts"] if ": " in f and "\n" not in f)
    text = extractive_answer(s["question"], s["passages"], account)
    assert "[" in text and "Sources:" in text
    assert check_grounding(text, s["passages"], s["facts"], question=s["question"]).ok


def test_cheap() -> None:
    import time
    s = SAMPLES["smollm-baseline:how-do-i-reset-my-password"]
    start = time.perf_counter()
    for _ in range(50):
        check_grounding(s["answer"], s["passages"], s["facts"], question=s["question"])
    assert (time.perf_counter() - start) / 50 < 0.05  # well under 50 ms per answer
