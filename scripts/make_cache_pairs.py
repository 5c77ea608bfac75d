"""Write ``data/cache_pairs.jsonl``: labelled question pairs for calibrating the semantic cache.

Every question below was written by hand for the fictional SaaS "Quillstack"; this script only
lays them out as pairs, so the set is reproducible and easy to extend. Each line is
``{"id", "a", "b", "label", "kind", "style", "split"}``:

* ``label`` 1 = same question (the answer to ``a`` is a correct answer to ``b``), 0 = different.
* ``kind``: ``paraphrase`` (1); near-misses (0) ``near_number``, ``near_amount``, ``near_date``,
  ``near_entity``, ``near_negation`` (negation or antonym verb), ``near_topic`` (same area,
  different question: nothing for the guard to catch, only the threshold); ``unrelated`` (0).
* ``style`` (paraphrases): reorder, casual, typo, synonym, formal, terse.
* ``split``: ``dev`` / ``test``, alternating within each kind, so a threshold tuned on dev can be
  reported on test.

Run: ``.venv/bin/python scripts/make_cache_pairs.py`` (rewrites the file).
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "cache_pairs.jsonl"

# (question, [(style, paraphrase), ...])
PARAPHRASES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "How do I reset my password?",
        [
            ("casual", "forgot my password, how do i reset it"),
            ("typo", "how do i reset my pasword"),
            ("synonym", "What's the way to change a password I forgot?"),
        ],
    ),
    (
        "How do I enable SSO for my workspace?",
        [
            ("reorder", "For my workspace, how do I enable SSO?"),
            ("synonym", "How can I turn on single sign-on for our workspace?"),
            ("casual", "enable sso for my workspace - how?"),
        ],
    ),
    (
        "How do I connect Salesforce to Quillstack?",
        [
            ("synonym", "How can I link Salesforce with Quillstack?"),
            ("casual", "hooking up salesforce to quillstack, how do i do that"),
            ("typo", "how do I conect Salesforce to Quillstack"),
        ],
    ),
    (
        "What does error WH-401 mean?",
        [
            ("casual", "getting WH-401, what does it mean"),
            ("synonym", "What is the meaning of the WH-401 error?"),
            ("terse", "WH-401 meaning?"),
        ],
    ),
    (
        "How do I rotate an API key?",
        [
            ("synonym", "What's the process for rotating API keys?"),
            ("casual", "how do i rotate my api key"),
            ("typo", "how do I rotate an APi kye"),
        ],
    ),
    (
        "Where can I download my invoices?",
        [
            ("reorder", "My invoices, where can I download them?"),
            ("synonym", "Where do I get a download of my invoices?"),
            ("casual", "where to download my invoices??"),
        ],
    ),
    (
        "How do I add a new user to my team?",
        [
            ("synonym", "How can I invite a new user to my team?"),
            ("casual", "how do i add someone new to my team"),
            ("reorder", "To my team, how do I add a new user?"),
        ],
    ),
    (
        "Why is my webhook not firing?",
        [
            ("synonym", "Why isn't my webhook triggering?"),
            ("casual", "my webhook isnt firing, why"),
            ("typo", "why is my webhok not firing"),
        ],
    ),
    (
        "How do I export a workflow as JSON?",
        [
            ("synonym", "Can I export a workflow to a JSON file?"),
            ("casual", "export workflow as json how"),
            ("reorder", "As JSON, how do I export a workflow?"),
        ],
    ),
    (
        "What is the API rate limit on the Team plan?",
        [
            ("synonym", "How many API requests per minute does the Team plan allow?"),
            ("casual", "whats the api rate limit on the team plan"),
            ("reorder", "On the Team plan, what is the API rate limit?"),
        ],
    ),
    (
        "How do I set up SCIM provisioning with Okta?",
        [
            ("synonym", "How can I configure SCIM provisioning using Okta?"),
            ("casual", "setting up scim with okta, how?"),
            ("typo", "how do i set up SCIM provisoning with Okta"),
        ],
    ),
    (
        "How do I change my billing email address?",
        [
            ("synonym", "How can I update the email address used for billing?"),
            ("casual", "need to change my billing email, how"),
            ("typo", "how do i change my biling email address"),
        ],
    ),
    (
        "How do I cancel my subscription?",
        [
            ("synonym", "How can I cancel my Quillstack subscription?"),
            ("casual", "i want to cancel my subscription how do i do it"),
            ("formal", "Could you tell me how to cancel my subscription?"),
        ],
    ),
    (
        "Can I get a refund on an annual plan?",
        [
            ("synonym", "Are annual plans refundable?"),
            ("casual", "can i get my money back on an annual plan"),
            ("reorder", "On an annual plan, can I get a refund?"),
        ],
    ),
    (
        "How do I enable two-factor authentication?",
        [
            ("synonym", "How can I turn on 2FA?"),
            ("casual", "how do i enable two factor auth"),
            ("formal", "Please explain how to enable two-factor authentication."),
        ],
    ),
    (
        "My account is locked, how do I unlock it?",
        [
            ("synonym", "How can I unlock my locked account?"),
            ("casual", "account locked, how do i unlock it"),
            ("typo", "my acount is locked how do i unlock it"),
        ],
    ),
    (
        "How do I create my first workflow?",
        [
            ("synonym", "How can I build my first workflow?"),
            ("casual", "how do i make my first workflow"),
            ("formal", "What are the steps to create my first workflow?"),
        ],
    ),
    (
        "How do I retry a failed workflow run?",
        [
            ("synonym", "How can I rerun a workflow run that failed?"),
            ("casual", "workflow run failed, how do i retry it"),
            ("typo", "how do i retry a faild workflow run"),
        ],
    ),
    (
        "How do I connect Slack to get workflow notifications?",
        [
            ("synonym", "How can I link Slack to receive workflow notifications?"),
            ("casual", "want workflow notifications in slack, how do i connect it"),
            ("reorder", "To get workflow notifications, how do I connect Slack?"),
        ],
    ),
    (
        "How do I verify webhook signatures?",
        [
            ("synonym", "How can I validate the signature on a webhook?"),
            ("casual", "how do i check webhook signatures"),
            ("typo", "how do I verify webhook signitures"),
        ],
    ),
    (
        "What payment methods do you accept?",
        [
            ("synonym", "Which payment methods are accepted?"),
            ("casual", "what can i pay with"),
            ("formal", "Could you list the payment methods you accept?"),
        ],
    ),
    (
        "How do I update my credit card?",
        [
            ("synonym", "How can I change the credit card on file?"),
            ("casual", "need to update my credit card"),
            ("typo", "how do i update my credit crad"),
        ],
    ),
    (
        "Does Quillstack support SAML?",
        [
            ("synonym", "Is SAML supported by Quillstack?"),
            ("casual", "do you guys support saml"),
            ("terse", "SAML support?"),
        ],
    ),
    (
        "How do I import contacts from a CSV file?",
        [
            ("synonym", "How can I upload contacts from a CSV?"),
            ("casual", "import contacts from csv how"),
            ("reorder", "From a CSV file, how do I import contacts?"),
        ],
    ),
    (
        "How do I see my workflow run history?",
        [
            ("synonym", "Where can I view the run history of my workflows?"),
            ("casual", "where's my workflow run history"),
            ("typo", "how do I see my workflow run histroy"),
        ],
    ),
    (
        "How do I connect HubSpot to Quillstack?",
        [
            ("synonym", "How can I integrate HubSpot with Quillstack?"),
            ("casual", "how to hook up hubspot with quillstack"),
            ("typo", "how do i connect Hubspot to Quilstack"),
        ],
    ),
    (
        "How do I connect Zendesk?",
        [
            ("synonym", "How can I integrate Zendesk?"),
            ("casual", "zendesk connect how"),
            ("formal", "What is the procedure to connect Zendesk?"),
        ],
    ),
    (
        "What does QS-429 mean?",
        [
            ("synonym", "What is error QS-429?"),
            ("casual", "getting QS-429 errors what does that mean"),
            ("terse", "QS-429?"),
        ],
    ),
    (
        "How do I fix a BILL-402 payment failed error?",
        [
            ("synonym", "How can I resolve BILL-402 payment failed?"),
            ("casual", "got BILL-402 payment failed, how to fix"),
            ("reorder", "BILL-402 payment failed: how do I fix it?"),
        ],
    ),
    (
        "Where do I find my API key?",
        [
            ("synonym", "Where is my API key located?"),
            ("casual", "where's my api key"),
            ("typo", "where do i find my api kee"),
        ],
    ),
    (
        "How do I change my plan?",
        [
            ("synonym", "How can I switch to a different plan?"),
            ("casual", "how do i change plans"),
            ("formal", "What is the process for changing my plan?"),
        ],
    ),
    (
        "How long is the password reset link valid?",
        [
            ("synonym", "How long does a password reset link last before it expires?"),
            ("casual", "how long does the password reset link work"),
            ("reorder", "The password reset link, how long is it valid?"),
        ],
    ),
    (
        "How do I delete a workflow?",
        [
            ("synonym", "How can I remove a workflow?"),
            ("casual", "how to delete a workflow"),
            ("typo", "how do i delte a workflow"),
        ],
    ),
    (
        "How do I pause a workflow?",
        [
            ("synonym", "How can I temporarily pause a workflow?"),
            ("casual", "need to pause a workflow, how"),
            ("typo", "how do i pasue a workflow"),
        ],
    ),
    (
        "Is Quillstack SOC 2 compliant?",
        [
            ("synonym", "Does Quillstack have SOC 2 certification?"),
            ("casual", "are you soc 2 compliant"),
            ("terse", "SOC 2 compliance?"),
        ],
    ),
    (
        "Can I store my data in the EU region?",
        [
            ("synonym", "Is it possible to keep my data in the EU region?"),
            ("casual", "can my data stay in the EU region"),
            ("reorder", "In the EU region, can I store my data?"),
        ],
    ),
    (
        "How do I add an approval step to a workflow?",
        [
            ("synonym", "How can I insert an approval step into a workflow?"),
            ("casual", "how do i add approval steps in a workflow"),
            ("typo", "how do I add an aproval step to a workflow"),
        ],
    ),
    (
        "How do I set up a webhook trigger?",
        [
            ("synonym", "How can I configure a webhook trigger?"),
            ("casual", "setting up a webhook trigger how"),
            ("formal", "Please describe how to set up a webhook trigger."),
        ],
    ),
    (
        "Why was my payment declined?",
        [
            ("synonym", "Why did my payment get declined?"),
            ("casual", "payment declined why"),
            ("typo", "why was my paymnet declined"),
        ],
    ),
    (
        "How do I remove a user from my workspace?",
        [
            ("synonym", "How can I delete a user from my workspace?"),
            ("casual", "how do i remove someone from my workspace"),
            ("reorder", "From my workspace, how do I remove a user?"),
        ],
    ),
    (
        "How do I give a member admin rights?",
        [
            ("synonym", "How can I make a member an admin?"),
            ("casual", "how to give a member admin rights"),
            ("typo", "how do i give a memeber admin rights"),
        ],
    ),
    (
        "Where can I see my current usage?",
        [
            ("synonym", "Where do I check my current usage?"),
            ("casual", "where do i see my usage right now"),
            ("formal", "Where can I view my current usage?"),
        ],
    ),
    (
        "How do I upgrade my plan?",
        [
            ("synonym", "How can I upgrade to a higher plan?"),
            ("casual", "how do i upgrade my plan"),
            ("typo", "how do i upgrde my plan"),
        ],
    ),
    (
        "How do I downgrade my plan?",
        [
            ("synonym", "How can I move down to a cheaper plan by downgrading?"),
            ("casual", "want to downgrade my plan how"),
            ("typo", "how do I downgarde my plan"),
        ],
    ),
    (
        "Can I use Quillstack with Google Sheets?",
        [
            ("synonym", "Does Quillstack work with Google Sheets?"),
            ("casual", "quillstack + google sheets possible?"),
            ("reorder", "With Google Sheets, can I use Quillstack?"),
        ],
    ),
    (
        "How do I connect Jira to a workflow?",
        [
            ("synonym", "How can I integrate Jira into a workflow?"),
            ("casual", "connect jira to a workflow how"),
            ("typo", "how do i connect Jria to a workflow"),
        ],
    ),
    (
        "What happens when I go over my workflow run limit?",
        [
            ("synonym", "What happens if I exceed my workflow run limit?"),
            ("casual", "what if i go over my workflow run limit"),
            ("formal", "What occurs when I go over my workflow run limit?"),
        ],
    ),
    (
        "How do I get an invoice with my VAT number on it?",
        [
            ("synonym", "How can I add my VAT number to an invoice?"),
            ("casual", "need my VAT number on my invoice, how"),
            ("reorder", "With my VAT number on it, how do I get an invoice?"),
        ],
    ),
    (
        "How do I export my audit log?",
        [
            ("synonym", "How can I download my audit log?"),
            ("casual", "export my audit log how"),
            ("typo", "how do I export my audit logg"),
        ],
    ),
    (
        "How do I test a workflow before publishing it?",
        [
            ("synonym", "How can I test a workflow prior to publishing?"),
            ("casual", "can i test a workflow before i publish it"),
            ("formal", "What is the way to test a workflow before publishing it?"),
        ],
    ),
    (
        "What does error SSO-001 mean?",
        [
            ("synonym", "What is the meaning of SSO-001?"),
            ("casual", "SSO-001 error what does it mean"),
            ("terse", "SSO-001?"),
        ],
    ),
    (
        "How do I fix AUTH-423 account locked?",
        [
            ("synonym", "How can I resolve AUTH-423 account locked?"),
            ("casual", "AUTH-423 account locked how do i fix"),
            ("terse", "AUTH-423 account locked fix"),
        ],
    ),
    (
        "Why did my CSV import fail?",
        [
            ("synonym", "Why did my CSV import fail to complete?"),
            ("casual", "my csv import failed, why"),
            ("typo", "why did my CSV imprt fail"),
        ],
    ),
    (
        "How do I use a sandbox workspace?",
        [
            ("synonym", "How can I work in a sandbox workspace?"),
            ("casual", "how to use the sandbox workspace"),
            ("formal", "Could you explain how to use a sandbox workspace?"),
        ],
    ),
    (
        "How do I transfer workspace ownership?",
        [
            ("synonym", "How can I hand over ownership of a workspace?"),
            ("casual", "how do i transfer ownership of my workspace"),
            ("typo", "how do I transfer workspace ownershp"),
        ],
    ),
    (
        "What is the session timeout?",
        [
            ("synonym", "How long before my session times out?"),
            ("casual", "whats the session timeout"),
            ("terse", "session timeout?"),
        ],
    ),
    (
        "How do I schedule a workflow to run automatically?",
        [
            ("synonym", "How can I set a workflow to run automatically on a schedule?"),
            ("casual", "how do i schedule a workflow to run by itself"),
            ("reorder", "To run automatically, how do I schedule a workflow?"),
        ],
    ),
    (
        "How do I map fields between Salesforce and HubSpot?",
        [
            ("synonym", "How can I do field mapping between Salesforce and HubSpot?"),
            ("casual", "mapping fields salesforce to hubspot how"),
            ("reorder", "Between Salesforce and HubSpot, how do I map fields?"),
        ],
    ),
    (
        "How do I contact support?",
        [
            ("synonym", "How can I reach your support team?"),
            ("casual", "how do i get in touch with support"),
            ("formal", "What is the best way to contact support?"),
        ],
    ),
    (
        "Do you have a status page?",
        [
            ("synonym", "Is there a status page I can check?"),
            ("casual", "got a status page?"),
            ("typo", "do you have a staus page"),
        ],
    ),
    (
        "How do I add a custom domain for email notifications?",
        [
            ("synonym", "How can I use a custom domain for notification emails?"),
            ("casual", "custom domain for email notifications how"),
            ("reorder", "For email notifications, how do I add a custom domain?"),
        ],
    ),
    (
        "Can I restrict access to certain workflows?",
        [
            ("synonym", "Is it possible to restrict who can access certain workflows?"),
            ("casual", "can i restrict access to some workflows"),
            ("formal", "Am I able to restrict access to specific workflows?"),
        ],
    ),
    (
        "How do I send data from Zendesk tickets to Slack?",
        [
            ("synonym", "How can I send Zendesk ticket data to Slack?"),
            ("casual", "send zendesk tickets to slack how"),
            ("reorder", "To Slack, how do I send data from Zendesk tickets?"),
        ],
    ),
    (
        "How do I duplicate a workflow?",
        [
            ("synonym", "How can I copy a workflow?"),
            ("casual", "how to duplicate a workflow"),
            ("typo", "how do i duplicat a workflow"),
        ],
    ),
    (
        "Why is my Salesforce sync slow?",
        [
            ("synonym", "Why is the Salesforce sync taking so long?"),
            ("casual", "salesforce sync is slow why"),
            ("typo", "why is my Salesforce sync slwo"),
        ],
    ),
    (
        "How do I view a workflow's error logs?",
        [
            ("synonym", "Where can I see the error logs of a workflow?"),
            ("casual", "where are the workflow error logs"),
            ("formal", "How may I view the error logs for a workflow?"),
        ],
    ),
    (
        "How do I change my workspace name?",
        [
            ("synonym", "How can I rename my workspace?"),
            ("casual", "how do i rename my workspace"),
            ("typo", "how do I change my worksapce name"),
        ],
    ),
    (
        "How are seats billed when I add users mid-month?",
        [
            ("synonym", "How is billing handled for seats I add in the middle of the month?"),
            ("casual", "if i add users mid-month how are seats billed"),
            ("reorder", "When I add users mid-month, how are seats billed?"),
        ],
    ),
    (
        "What is included in premium support?",
        [
            ("synonym", "What does premium support include?"),
            ("casual", "whats in premium support"),
            ("terse", "premium support includes?"),
        ],
    ),
    (
        "How do I generate a new API key?",
        [
            ("synonym", "How can I create a new API key?"),
            ("casual", "how do i generate a new api key"),
            ("typo", "how do i genrate a new API key"),
        ],
    ),
    (
        "How do I revoke an API key?",
        [
            ("synonym", "How can I revoke one of my API keys?"),
            ("casual", "how do i revoke an api key"),
            ("typo", "how do I revoke an API kay"),
        ],
    ),
    (
        "How do I handle webhook retries?",
        [
            ("synonym", "How should I deal with webhook retries?"),
            ("casual", "how do webhook retries work and how to handle them"),
            ("formal", "What is the proper way to handle webhook retries?"),
        ],
    ),
    (
        "Can I migrate my workflows from Zapier?",
        [
            ("synonym", "Is it possible to migrate my workflows over from Zapier?"),
            ("casual", "can i move my workflows from zapier"),
            ("reorder", "From Zapier, can I migrate my workflows?"),
        ],
    ),
    (
        "How do I set up a conditional branch in a workflow?",
        [
            ("synonym", "How can I add if/else branching to a workflow?"),
            ("casual", "conditional branch in a workflow how"),
            ("typo", "how do i set up a conditonal branch in a workflow"),
        ],
    ),
    (
        "How do I share a workflow with my team?",
        [
            ("synonym", "How can I share a workflow with my teammates on my team?"),
            ("casual", "share a workflow with my team how"),
            ("reorder", "With my team, how do I share a workflow?"),
        ],
    ),
    (
        "Why am I not receiving email notifications?",
        [
            ("synonym", "Why don't I get email notifications?"),
            ("casual", "not getting email notifications why"),
            ("typo", "why am i not receving email notifications"),
        ],
    ),
    (
        "How do I see which plan I'm on?",
        [
            ("synonym", "How can I check which plan I'm on?"),
            ("casual", "which plan am i on"),
            ("formal", "Where can I see which plan I'm currently on?"),
        ],
    ),
    (
        "What's my current balance?",
        [
            ("synonym", "How much do I currently owe?"),
            ("casual", "whats my balance"),
            ("typo", "what's my curent balance"),
        ],
    ),
    (
        "When is my next invoice due?",
        [
            ("synonym", "When is my next invoice due for payment?"),
            ("casual", "when's my next invoice due"),
            ("reorder", "My next invoice, when is it due?"),
        ],
    ),
    (
        "How do I use variables in a workflow step?",
        [
            ("synonym", "How can I reference variables inside a workflow step?"),
            ("casual", "using variables in a workflow step how"),
            ("typo", "how do i use variabels in a workflow step"),
        ],
    ),
    (
        "How do I filter records in a workflow?",
        [
            ("synonym", "How can I add a filter for records in a workflow?"),
            ("casual", "how to filter records in a workflow"),
            ("formal", "What is the method to filter records within a workflow?"),
        ],
    ),
    (
        "Can I connect to a Postgres database?",
        [
            ("synonym", "Is it possible to connect to a Postgres database?"),
            ("casual", "can i hook up a postgres db"),
            ("typo", "can I connect to a Postgres databse"),
        ],
    ),
    (
        "How do I log out of all devices?",
        [
            ("synonym", "How can I log out of all my devices at once?"),
            ("casual", "log out of all devices how"),
            ("typo", "how do i log out of all devics"),
        ],
    ),
    (
        "Does Quillstack have a mobile app?",
        [
            ("synonym", "Is there a Quillstack mobile app?"),
            ("casual", "u have a mobile app?"),
            ("formal", "Does Quillstack offer a mobile app?"),
        ],
    ),
    (
        "How do I change the timezone for scheduled workflows?",
        [
            ("synonym", "How can I set a different timezone for scheduled workflows?"),
            ("casual", "change timezone for scheduled workflows how"),
            ("typo", "how do I change the timezome for scheduled workflows"),
        ],
    ),
    (
        "How do I reactivate a cancelled subscription?",
        [
            ("synonym", "How can I reactivate my subscription after cancelling?"),
            ("casual", "reactivate my cancelled subscription how"),
            ("typo", "how do i reactivate a canceled subscription"),
        ],
    ),
    (
        "Where can I find your DPA for GDPR?",
        [
            ("synonym", "Where is your GDPR data processing agreement (DPA)?"),
            ("casual", "where's your GDPR DPA"),
            ("reorder", "For GDPR, where can I find your DPA?"),
        ],
    ),
    (
        "How do I set up a Stripe integration?",
        [
            ("synonym", "How can I configure the Stripe integration?"),
            ("casual", "stripe integration setup how"),
            ("typo", "how do i set up a Stirpe integration"),
        ],
    ),
    (
        "Why does my workflow time out?",
        [
            ("synonym", "Why does my workflow keep timing out?"),
            ("casual", "workflow keeps timing out why"),
            ("typo", "why does my workflow tiem out"),
        ],
    ),
    (
        "How do I increase the timeout of a workflow step?",
        [
            ("synonym", "How can I raise the timeout for a workflow step?"),
            ("casual", "how do i increase step timeout in a workflow"),
            ("reorder", "For a workflow step, how do I increase the timeout?"),
        ],
    ),
    (
        "Can I get a copy of a paid invoice?",
        [
            ("synonym", "Is it possible to get a copy of an invoice I already paid?"),
            ("casual", "can i get a copy of a paid invoice"),
            ("formal", "May I obtain a copy of a paid invoice?"),
        ],
    ),
    (
        "How do I require SSO for all users?",
        [
            ("synonym", "How can I make SSO mandatory for all users?"),
            ("casual", "require sso for all users how"),
            ("reorder", "For all users, how do I require SSO?"),
        ],
    ),
    (
        "How do I update my company address on invoices?",
        [
            ("synonym", "How can I change the company address shown on invoices?"),
            ("casual", "update company address on invoices"),
            ("typo", "how do I update my company adress on invoices"),
        ],
    ),
    (
        "What is a workflow run?",
        [
            ("synonym", "What counts as a workflow run?"),
            ("casual", "what's a workflow run"),
            ("terse", "workflow run definition?"),
        ],
    ),
    (
        "How do I connect Microsoft Teams for alerts?",
        [
            ("synonym", "How can I link Microsoft Teams to get alerts?"),
            ("casual", "ms teams alerts setup how"),
            ("reorder", "For alerts, how do I connect Microsoft Teams?"),
        ],
    ),
    (
        "How do I whitelist Quillstack IP addresses?",
        [
            ("synonym", "How can I allowlist Quillstack's IP addresses?"),
            ("casual", "whitelist quillstack ips how"),
            ("typo", "how do I whitelist Quillstack IP adresses"),
        ],
    ),
    (
        "How do I set up a webhook endpoint?",
        [
            ("synonym", "How can I configure a webhook endpoint?"),
            ("casual", "webhook endpoint setup?"),
            ("typo", "how do i set up a webhook endpont"),
        ],
    ),
    (
        "Can I change my billing cycle to annual?",
        [
            ("synonym", "Is it possible to switch my billing cycle to annual?"),
            ("casual", "can i switch to annual billing"),
            ("reorder", "To annual, can I change my billing cycle?"),
        ],
    ),
    (
        "How do I see who changed a workflow?",
        [
            ("synonym", "How can I find out who modified a workflow?"),
            ("casual", "who changed my workflow, how do i see"),
            ("formal", "How might I see who changed a workflow?"),
        ],
    ),
    (
        "How do I undo a change to a workflow?",
        [
            ("synonym", "How can I revert a change to a workflow?"),
            ("casual", "undo a workflow change how"),
            ("typo", "how do I undo a chnage to a workflow"),
        ],
    ),
    (
        "How do I add a security key for login?",
        [
            ("synonym", "How can I register a security key to log in?"),
            ("casual", "add a security key for login how"),
            ("reorder", "For login, how do I add a security key?"),
        ],
    ),
]

# Near-misses: (a, b) pairs differing in one fact. Some b's are also reworded on purpose.
NEAR_NUMBER = [
    ("Can you refund invoice 1042?", "Can you refund invoice 1043?"),
    ("Please resend invoice #2291", "Please resend invoice #2219"),
    ("Why did workflow run 88123 fail?", "Why did workflow run 88124 fail?"),
    ("How do I add 5 more seats?", "How do I add 50 more seats?"),
    ("Can I have 3 sandbox workspaces?", "Can I have 2 sandbox workspaces?"),
    ("What happens after 5 failed login attempts?", "What happens after 3 failed login attempts?"),
    ("We need 120 seats on the Team plan", "We need 250 seats on the Team plan"),
    ("Is there a discount for 1000 users?", "Is there a discount for 100 users?"),
    ("My workflow has 12 steps, is that too many?", "My workflow has 120 steps, is that too many?"),
    (
        "Does the Starter plan include 5,000 workflow runs?",
        "Does the Starter plan include 50,000 workflow runs?",
    ),
    ("How do I import 40 GB of data?", "How do I import 400 GB of data?"),
    (
        "Can we provision 5000 users per day with SCIM?",
        "Can we provision 1500 users per day with SCIM?",
    ),
    ("Why is ticket 4471 still open?", "Why is ticket 4417 still open?"),
    ("Status of order 7781?", "Status of order 7782?"),
    ("What is the API limit for 300 requests?", "What is the API limit for 3000 requests?"),
    ("Refund invoice 1042 please", "Refund invoice 1024 please"),
    ("Cancel workflow run 5521", "Cancel workflow run 5512"),
    ("Why does step 3 of my workflow fail?", "Why does step 4 of my workflow fail?"),
    ("Can I retry a webhook 10 times?", "Can I retry a webhook 100 times?"),
    ("Is a 2 MB payload too large?", "Is a 20 MB payload too large?"),
    ("How long does it take to migrate 10 GB?", "How long does it take to migrate 100 GB?"),
    ("Can I set the session timeout to 12 hours?", "Can I set the session timeout to 24 hours?"),
    (
        "What does it cost to go from 10 to 20 seats?",
        "What does it cost to go from 10 to 30 seats?",
    ),
    ("Can you merge accounts 3310 and 3311?", "Can you merge accounts 3310 and 3312?"),
    (
        "Why was invoice INV-2024-0042 charged twice?",
        "Why was invoice INV-2024-0043 charged twice?",
    ),
    ("We have two workspaces, can we merge them?", "We have three workspaces, can we merge them?"),
    ("Can I add a second admin?", "Can I add a third admin?"),
    ("Why did my first invoice look different?", "Why did my second invoice look different?"),
    ("Can I get 2 weeks of extra trial?", "Can I get 4 weeks of extra trial?"),
    ("Is there a limit of 50 steps per workflow?", "Is there a limit of 500 steps per workflow?"),
    ("Do you keep audit logs for 365 days?", "Do you keep audit logs for 730 days?"),
    ("Is the uptime SLA 99.9%?", "Is the uptime SLA 99.95%?"),
    (
        "Does the reset link expire after 30 minutes?",
        "Does the reset link expire after 60 minutes?",
    ),
    ("Why was user 1182 deactivated?", "Why was user 1183 deactivated?"),
    ("my webhook returned 500 errors", "my webhook returned 502 errors"),
    ("Can I schedule a workflow every 5 minutes?", "Can I schedule a workflow every 15 minutes?"),
    ("Can I upload a CSV with 10k rows?", "Can I upload a CSV with 100k rows?"),
    ("pls refund inv 1042", "can you refund invoice 1043 please"),
    ("Move us to 25 seats", "Move us to 35 seats"),
    ("what's the overage for 6000 runs", "what's the overage for 60000 runs"),
    ("Unlock account 9921", "Unlock account 9912"),
    ("How do I delete workflow 312?", "How do I delete workflow 321?"),
    ("Can I invite 3 guests?", "Can I invite 30 guests?"),
    ("Is it 15 days payment terms?", "Is it 30 days payment terms?"),
]

NEAR_AMOUNT = [
    ("Why was I charged $49 this month?", "Why was I charged $59 this month?"),
    ("I was billed $1,200 instead of $1,000", "I was billed $1,500 instead of $1,000"),
    ("Can I get a refund of $35?", "Can I get a refund of $60?"),
    ("Why is my invoice $420?", "Why is my invoice $240?"),
    ("Is the SSO add-on $4 per user?", "Is the SSO add-on $6 per user?"),
    ("Does the Team plan cost $35 per user?", "Does the Team plan cost $60 per user?"),
    ("Is the guided migration package $3,000?", "Is the guided migration package $5,000?"),
    ("Why was there a $2 overage fee?", "Why was there a $20 overage fee?"),
    ("Is the extra sandbox $200 a month?", "Is the extra sandbox $250 a month?"),
    ("Premium support is $500, right?", "Premium support is $5000, right?"),
    ("I paid $99.00 but the invoice says $89.00", "I paid $99.00 but the invoice says $79.00"),
    ("Why did you charge my card €120?", "Why did you charge my card €210?"),
    (
        "Can I pay a $10,000 invoice by bank transfer?",
        "Can I pay a $100,000 invoice by bank transfer?",
    ),
    ("Is there a 15% annual discount?", "Is there a 20% annual discount?"),
    ("Do you offer 50% off for nonprofits?", "Do you offer 30% off for nonprofits?"),
    ("What does $95 per user include?", "What does $15 per user include?"),
    ("Why is the per GB import fee $20?", "Why is the per GB import fee $25?"),
    ("Charge of $1.50 per user above 1000?", "Charge of $2.50 per user above 1000?"),
    ("Refund the $300 I was overcharged", "Refund the $3,000 I was overcharged"),
    ("I see a pending charge of $72.50", "I see a pending charge of $27.50"),
    ("Is $250 per integration setup correct?", "Is $150 per integration setup correct?"),
    ("why am i paying 45 dollars", "why am i paying 54 dollars"),
    ("was charged $15 for the starter plan", "was charged $25 for the starter plan"),
    ("Can I get a quote for $8,000 a year?", "Can I get a quote for $18,000 a year?"),
    ("My card was charged $700 twice", "My card was charged $70 twice"),
    ("Can I get credit for the $60 outage?", "Can I get credit for the $600 outage?"),
    ("Why do I owe $1,042?", "Why do I owe $1,043?"),
    ("Invoice total is $3,450, is that right?", "Invoice total is $3,540, is that right?"),
    ("Can I set a spending cap at $500?", "Can I set a spending cap at $1,000?"),
    ("Do I get a 10% discount on 3 years?", "Do I get a 15% discount on 3 years?"),
    ("Why is the Business plan $60 per seat?", "Why is the Business plan $65 per seat?"),
    ("Why was I charged 35 USD for one seat?", "Why was I charged 70 USD for one seat?"),
    ("Can you waive the $2 per 1000 runs overage?", "Can you waive the $3 per 1000 runs overage?"),
    ("Is there a minimum spend of $1,500?", "Is there a minimum spend of $2,500?"),
    ("I expected a $180 refund", "I expected a $18 refund"),
    ("Charged $4.99 for SMS?", "Charged $9.99 for SMS?"),
]

NEAR_DATE = [
    ("Can I get my invoice for March?", "Can I get my invoice for April?"),
    ("Why was I charged on June 1?", "Why was I charged on July 1?"),
    ("Show my workflow runs from yesterday", "Show my workflow runs from today"),
    ("Why is my last invoice higher?", "Why is my next invoice higher?"),
    ("What did I pay last month?", "What will I pay next month?"),
    ("Did my renewal go through on the 15th?", "Did my renewal go through on the 1st?"),
    ("Send me the invoices for Q1", "Send me the invoices for Q2"),
    ("Why did my workflow fail on Monday?", "Why did my workflow fail on Tuesday?"),
    ("Are there maintenance windows this week?", "Are there maintenance windows next week?"),
    ("Our contract renews in January", "Our contract renews in February"),
    ("Was there an outage on 2024-03-14?", "Was there an outage on 2024-03-15?"),
    ("Can I see usage for 2023?", "Can I see usage for 2024?"),
    ("Why was I billed twice in May?", "Why was I billed twice in March?"),
    ("Schedule the workflow for Friday", "Schedule the workflow for Sunday"),
    ("Invoice dated 03/12 looks wrong", "Invoice dated 03/13 looks wrong"),
    ("Why was my card charged on December 31?", "Why was my card charged on January 31?"),
    ("Show failed runs since last week", "Show failed runs since this week"),
    ("Can I get the statement for September?", "Can I get the statement for October?"),
    (
        "Do you have an incident report for August 3?",
        "Do you have an incident report for August 13?",
    ),
    (
        "What was my usage in the previous billing cycle?",
        "What is my usage in the current billing cycle?",
    ),
    ("my invoice from november is missing", "my invoice from december is missing"),
    ("Refund the charge from last Tuesday", "Refund the charge from last Thursday"),
    ("Will the price change in 2025?", "Will the price change in 2026?"),
    ("Why did the webhook stop working yesterday?", "Why did the webhook stop working today?"),
    ("Can I postpone renewal to March 1?", "Can I postpone renewal to April 1?"),
    ("Do invoices go out on the 1st of the month?", "Do invoices go out on the 15th of the month?"),
    ("Audit log for last quarter please", "Audit log for this quarter please"),
    ("Runs scheduled for Saturday didn't start", "Runs scheduled for Sunday didn't start"),
    ("Export runs from Jan 5 to Jan 10", "Export runs from Jan 5 to Jan 20"),
    ("What changed in the July release?", "What changed in the June release?"),
    ("Why is February's invoice prorated?", "Why is March's invoice prorated?"),
    ("Did you charge me on the 3rd?", "Did you charge me on the 13th?"),
    ("I need invoices from 2022", "I need invoices from 2021"),
    ("Show me yesterday's failed webhooks", "Show me today's failed webhooks"),
    ("When does this month's invoice arrive?", "When does next month's invoice arrive?"),
    ("Can my trial end on Friday instead?", "Can my trial end on Monday instead?"),
    ("Was I charged in October?", "Was I charged in November?"),
    ("Is support available on Sunday?", "Is support available on Saturday?"),
    ("my most recent invoice looks wrong", "my previous invoice from two months ago looks wrong"),
    ("Workflow runs on the 30th fail", "Workflow runs on the 31st fail"),
]

NEAR_ENTITY = [
    ("How do I connect Salesforce?", "How do I connect HubSpot?"),
    ("How do I connect Salesforce to Quillstack?", "How do I connect Zendesk to Quillstack?"),
    ("What does error WH-401 mean?", "What does error WH-404 mean?"),
    ("How do I fix QS-429?", "How do I fix QS-409?"),
    ("Why am I getting SSO-001?", "Why am I getting SSO-002?"),
    ("What does IMP-422 mean?", "What does IMP-507 mean?"),
    ("How do I send alerts to Slack?", "How do I send alerts to Microsoft Teams?"),
    ("How do I set up SSO with Okta?", "How do I set up SSO with Azure AD?"),
    ("How do I set up SCIM with Okta?", "How do I set up SCIM with OneLogin?"),
    ("Does the Business plan include SSO?", "Does the Team plan include SSO?"),
    ("Does the Enterprise plan include SCIM?", "Does the Business plan include SCIM?"),
    ("What's the API rate limit on Starter?", "What's the API rate limit on Enterprise?"),
    (
        "How do I sync contacts from HubSpot to Salesforce?",
        "How do I sync contacts from HubSpot to Pipedrive?",
    ),
    ("How do I export data to Google Sheets?", "How do I export data to Airtable?"),
    ("Can I connect to Postgres?", "Can I connect to MySQL?"),
    ("Can I load data into Snowflake?", "Can I load data into BigQuery?"),
    (
        "How do I create Jira issues from a workflow?",
        "How do I create Asana tasks from a workflow?",
    ),
    (
        "How do I connect Stripe for billing events?",
        "How do I connect QuickBooks for billing events?",
    ),
    ("Can I pay with PayPal?", "Can I pay with American Express?"),
    ("Send the invoice to billing@acme.com", "Send the invoice to finance@acme.com"),
    ("Reset the password for jane@acme.io", "Reset the password for john@acme.io"),
    ("How do I enable SSO?", "How do I enable SCIM?"),
    ("How do I set up SAML?", "How do I set up OAuth?"),
    (
        "Do you support SMS for two-factor authentication?",
        "Do you support security keys for two-factor authentication?",
    ),
    ("Is Quillstack HIPAA compliant?", "Is Quillstack GDPR compliant?"),
    ("Is Quillstack SOC 2 certified?", "Is Quillstack ISO 27001 certified?"),
    ("Can I host my data in the EU?", "Can I host my data in the United States?"),
    ("How do I import a CSV file?", "How do I import a JSON file?"),
    ("Can I export the audit log as CSV?", "Can I export the audit log as PDF?"),
    (
        "How do I trigger a workflow from a Shopify order?",
        "How do I trigger a workflow from a Stripe payment?",
    ),
    ("How do I connect Gmail?", "How do I connect Outlook?"),
    ("Why does my Zendesk sync fail?", "Why does my Freshdesk sync fail?"),
    ("How do I migrate from Zapier?", "How do I migrate from Workato?"),
    (
        "Does the Salesforce connector support custom objects?",
        "Does the HubSpot connector support custom objects?",
    ),
    ("What does WH-504 mean?", "What does WF-408 mean?"),
    ("getting QS-401 on every request", "getting QS-403 on every request"),
    (
        "How do I store files in Dropbox from a workflow?",
        "How do I store files in Google Drive from a workflow?",
    ),
    ("How do I post to a Slack channel?", "How do I post to a Discord channel?"),
    ("Can I connect Intercom?", "Can I connect Mailchimp?"),
    ("How do I send SMS with Twilio?", "How do I send email with SendGrid?"),
    ("Is the Team plan billed per user?", "Is the Business plan billed per user?"),
    ("Move my workspace to the Starter plan", "Move my workspace to the Enterprise plan"),
    ("Why does BILL-402 appear on my account?", "Why does AUTH-423 appear on my account?"),
    ("How do I connect ServiceNow?", "How do I connect Zendesk?"),
    ("Can I connect Notion to Quillstack?", "Can I connect Trello to Quillstack?"),
    ("How do I use the Xero integration?", "How do I use the QuickBooks integration?"),
    ("Do you support Google Workspace login?", "Do you support Azure AD login?"),
    ("Does Quillstack integrate with Marketo?", "Does Quillstack integrate with HubSpot?"),
    ("How do I read from an S3 bucket?", "How do I read from a Dropbox folder?"),
    ("How do I use the GitHub trigger?", "How do I use the GitLab trigger?"),
    ("webhook to https://hooks.acme.com/a fails", "webhook to https://hooks.acme.com/b fails"),
    ("How do I connect salesforce", "how do i connect hubspot"),
    ("what does wh-410 mean", "what does wh-401 mean"),
    ("Do you support Auth0 for login?", "Do you support Okta for login?"),
    ("Can I migrate workflows from Workato?", "Can I migrate workflows from Tray.io?"),
    ("How do I connect Pipedrive to Slack?", "How do I connect Pipedrive to Microsoft Teams?"),
]

NEAR_NEGATION = [
    ("How do I enable SSO?", "How do I disable SSO?"),
    ("How do I turn on two-factor authentication?", "How do I turn off two-factor authentication?"),
    ("How do I upgrade my plan?", "How do I downgrade my plan?"),
    ("How do I add a user to my workspace?", "How do I remove a user from my workspace?"),
    ("How do I cancel my subscription?", "How do I renew my subscription?"),
    ("How do I import workflows?", "How do I export workflows?"),
    ("How do I connect Salesforce?", "How do I disconnect Salesforce?"),
    ("How do I lock a workflow?", "How do I unlock a workflow?"),
    ("How do I pause a workflow?", "How do I resume a workflow?"),
    ("How do I archive a workflow?", "How do I restore an archived workflow?"),
    ("Why is my webhook firing?", "Why is my webhook not firing?"),
    ("Is SSO included in the Team plan?", "Is SSO not included in the Team plan?"),
    ("Can I get a refund?", "Can I not get a refund?"),
    ("How do I increase my API rate limit?", "How do I decrease my API rate limit?"),
    ("How do I log in with SSO?", "How do I log out with SSO?"),
    ("How do I subscribe to status updates?", "How do I unsubscribe from status updates?"),
    ("How do I allow an IP address?", "How do I block an IP address?"),
    ("How do I show hidden fields?", "How do I hide fields?"),
    ("How do I switch to monthly billing?", "How do I switch to annual billing?"),
    ("Why did my workflow succeed?", "Why did my workflow fail?"),
    ("How do I make a workflow public?", "How do I make a workflow private?"),
    ("How do I add seats?", "How do I remove seats?"),
    ("How do I create an API key?", "How do I delete an API key?"),
    ("How do I activate my account?", "How do I deactivate my account?"),
    ("How do I grant admin access?", "How do I revoke admin access?"),
    ("Can I enable SMS codes?", "Can I disable SMS codes?"),
    ("My payments are going through", "My payments are not going through"),
    ("I can log in", "I can't log in"),
    ("Why does my import work?", "Why doesn't my import work?"),
    ("Do webhooks retry on failure?", "Do webhooks not retry on failure?"),
    (
        "Should I include archived workflows in the export?",
        "Should I exclude archived workflows in the export?",
    ),
    ("How do I encrypt a field?", "How do I decrypt a field?"),
    ("How do I upload a file?", "How do I download a file?"),
    ("How do I start a workflow run?", "How do I stop a workflow run?"),
    ("How do I add a step before the approval?", "How do I add a step after the approval?"),
    ("How do I send webhooks?", "How do I receive webhooks?"),
    ("How do I get a refund for my last charge?", "How do I get charged for my last refund?"),
    ("What is the maximum number of steps?", "What is the minimum number of steps?"),
    ("How do I turn notifications on?", "How do I turn notifications off?"),
    ("How do I invite a guest?", "How do I uninvite a guest?"),
    ("pls enable sso for my team", "pls disable sso for my team"),
    ("how do i turn on 2fa", "how do i turn off 2fa"),
    ("can i upgrade mid month", "can i downgrade mid month"),
    ("Why is SSO enforced for my account?", "Why is SSO not enforced for my account?"),
    ("Does the Starter plan have SCIM?", "Does the Starter plan not have SCIM?"),
    ("The workflow is running", "The workflow is not running"),
    ("How do I add an admin?", "How do I remove an admin?"),
    ("How do I enable the Salesforce sync?", "How do I disable the Salesforce sync?"),
    ("How do I reactivate my workspace?", "How do I cancel my workspace?"),
    ("How do I add a member to a workflow?", "How do I remove a member from a workflow?"),
    ("Which data is included in the export?", "Which data is excluded from the export?"),
    ("How do I reset my own password?", "How do I reset a teammate's password?"),
    ("How do I change my email?", "How do I change a colleague's email?"),
    ("How do I make someone an admin?", "How do I make someone a viewer?"),
    ("Can a viewer edit workflows?", "Can an editor edit workflows?"),
    ("What's the rate limit per minute?", "What's the rate limit per hour?"),
    ("Can I sign up with Google?", "Can I sign in with Google?"),
    ("How do I reset my password?", "How do I reset my username?"),
    (
        "How do I enable webhooks for new contacts?",
        "How do I enable webhooks for deleted contacts?",
    ),
    ("How do I stop receiving invoice emails?", "How do I start receiving invoice emails?"),
    ("How do I unblock a user?", "How do I block a user?"),
    ("How do I get more workflow runs?", "How do I get fewer workflow runs?"),
    ("My SSO login works", "My SSO login doesn't work"),
    ("Is there a limit on webhooks?", "Is there no limit on webhooks?"),
    ("Can I export all workflows?", "Can I export a single workflow?"),
    ("How do I turn on auto-retry?", "How do I turn off auto-retry?"),
    ("How do I opt in to beta features?", "How do I opt out of beta features?"),
    ("How do I connect HubSpot?", "How do I uninstall HubSpot?"),
]

# Same area, different question: the guard has nothing to hold on to, only the threshold can.
NEAR_TOPIC = [
    ("How do I export invoices?", "How do I pay an invoice?"),
    ("How do I reset my password?", "How do I change my email address?"),
    ("How do I create a workflow?", "How do I rename a workflow?"),
    ("What is the API rate limit?", "How do I authenticate API requests?"),
    ("How do I set up SSO?", "Why does SSO login redirect in a loop?"),
    ("How do I verify webhook signatures?", "How do I see webhook delivery logs?"),
    ("Where can I download my invoices?", "Why is my invoice higher than usual?"),
    ("How do I connect Salesforce?", "Why is my Salesforce sync slow?"),
    ("How do I add a user?", "How do I change a user's role?"),
    ("How do I cancel my subscription?", "What happens to my data after I cancel?"),
    ("Can I get a refund on an annual plan?", "How do I update my payment method?"),
    ("How do I schedule a workflow?", "How do I see the run history of a workflow?"),
    ("How do I import contacts from a CSV?", "What file size can a CSV import be?"),
    ("How do I rotate an API key?", "How many API keys can I have?"),
    ("How do I enable two-factor authentication?", "What two-factor methods are supported?"),
    ("What does WH-401 mean?", "How do I set up a webhook?"),
    ("How do I duplicate a workflow?", "How do I share a workflow?"),
    ("How do I change my plan?", "What is included in my plan?"),
    ("How do I contact support?", "What are support hours?"),
    ("Where is the audit log?", "How long is the audit log kept?"),
    ("How do I test a workflow?", "How do I publish a workflow?"),
    ("How do I connect Slack?", "Why are Slack messages delayed?"),
    ("How are seats billed?", "How do I see how many seats I have?"),
    ("How do I use variables in a step?", "How do I handle errors in a step?"),
    ("Why was my payment declined?", "When will I be charged?"),
    ("How do I set up SCIM?", "Why are SCIM users not deactivated?"),
    ("How do I add an approval step?", "Who can approve a workflow step?"),
    ("How do I export my data?", "How do I delete my data?"),
    ("How do I set a custom domain?", "How do I change the sender name of emails?"),
    ("Is there a sandbox?", "How do I copy workflows from sandbox to production?"),
    ("How do I map fields?", "How do I transform dates in a field?"),
    ("What is a workflow run?", "How are workflow runs counted for billing?"),
    ("How do I filter records?", "How do I sort records?"),
    ("How do I find my API key?", "How do I use the API key in curl?"),
    ("How do I change my workspace name?", "How do I change my workspace URL?"),
    ("Does Quillstack support SAML?", "Where do I get the SAML metadata URL?"),
    ("What payment methods do you accept?", "Can I pay by invoice?"),
    ("How do I log out of all devices?", "How do I see active sessions?"),
    ("How do I set up a webhook endpoint?", "What IPs do webhooks come from?"),
    ("How do I see who changed a workflow?", "How do I restore a previous version of a workflow?"),
    ("Where is my current usage?", "How do I get usage alerts?"),
    ("How do I add a step to a workflow?", "How do I reorder steps in a workflow?"),
    ("How do I connect Zendesk?", "Which Zendesk fields can I sync?"),
    ("What's my current balance?", "When is my next invoice due?"),
    ("How do I transfer ownership?", "How do I leave a workspace?"),
    ("How do I update my credit card?", "Why was my card charged twice?"),
    ("How long is the reset link valid?", "Why didn't I get the reset email?"),
    ("How do I use the mobile app?", "Does the mobile app support SSO?"),
    ("How do I migrate from Zapier?", "How long does a migration take?"),
    ("How do I increase step timeout?", "Why do steps run slowly?"),
]

UNRELATED = [
    ("How do I reset my password?", "What does WH-404 mean?"),
    ("How do I connect Salesforce?", "Can I get a refund on an annual plan?"),
    ("Where can I download my invoices?", "How do I set up SCIM with Okta?"),
    ("What is the API rate limit on the Team plan?", "How do I add an approval step?"),
    ("Is Quillstack SOC 2 compliant?", "How do I duplicate a workflow?"),
    ("How do I rotate an API key?", "Why was my payment declined?"),
    ("How do I pause a workflow?", "Where is your GDPR DPA?"),
    ("Do you have a status page?", "How do I add a user to my team?"),
    ("How do I enable SSO?", "How do I import contacts from a CSV?"),
    ("What's my current balance?", "How do I schedule a workflow?"),
    ("Does Quillstack have a mobile app?", "How do I verify webhook signatures?"),
    ("How do I change my billing email?", "How do I use variables in a step?"),
    ("Can I migrate from Zapier?", "How do I log out of all devices?"),
    ("How do I connect Jira to a workflow?", "What payment methods do you accept?"),
    ("Why is my Salesforce sync slow?", "How do I change my workspace name?"),
    ("What is included in premium support?", "How do I filter records?"),
    ("How do I export my audit log?", "Can I store my data in the EU?"),
    ("How do I set up a conditional branch?", "How do I update my credit card?"),
    ("Why am I not receiving email notifications?", "What does QS-429 mean?"),
    ("How do I whitelist IP addresses?", "How do I create my first workflow?"),
    ("What is the session timeout?", "How do I connect HubSpot?"),
    ("How are seats billed mid-month?", "How do I set up a webhook trigger?"),
    ("How do I transfer ownership?", "Is SAML supported?"),
    ("How do I retry a failed run?", "Can I change my billing cycle to annual?"),
    ("How do I contact support?", "How do I map fields between apps?"),
    ("What's the weather like today?", "How do I reset my password?"),
    ("Write me a poem about cats", "How do I enable SSO?"),
    ("Who won the football game last night?", "Where can I download my invoices?"),
    ("What is the capital of France?", "How do I connect Slack?"),
    ("Can you help me with my math homework?", "What is the API rate limit?"),
    ("Tell me a joke", "How do I cancel my subscription?"),
    ("How do I bake sourdough bread?", "How do I export a workflow?"),
    ("What's the best laptop to buy?", "How do I rotate an API key?"),
    ("Translate hello into Spanish", "How do I add a user?"),
    ("How tall is Mount Everest?", "Why is my webhook not firing?"),
    ("How do I add a security key?", "How do I reactivate a subscription?"),
    ("Why does my workflow time out?", "Do you have a status page?"),
    ("How do I undo a workflow change?", "What is a workflow run?"),
    ("Where is my API key?", "How do I add a custom domain for emails?"),
    ("How do I send Zendesk tickets to Slack?", "Is Quillstack SOC 2 compliant?"),
    ("Can I get a copy of a paid invoice?", "How do I use a sandbox workspace?"),
    ("How do I connect Microsoft Teams?", "How long is the reset link valid?"),
    ("What does SSO-001 mean?", "How do I see my usage?"),
    ("How do I share a workflow?", "Why did my CSV import fail?"),
    ("How do I require SSO for all users?", "When is my next invoice due?"),
    ("How do I handle webhook retries?", "How do I change my plan?"),
    ("Can I connect to Postgres?", "How do I give a member admin rights?"),
    ("How do I test a workflow?", "What does BILL-402 mean?"),
    ("How do I see which plan I'm on?", "How do I set up a Stripe integration?"),
    ("What is Quillstack?", "How do I remove a user?"),
    ("How do I change the timezone for schedules?", "Can I get a refund?"),
    ("Is there an on-premise version?", "How do I connect Zendesk?"),
    ("How do I see who changed a workflow?", "What's my current balance?"),
    ("Do you offer training?", "How do I set up a webhook endpoint?"),
    ("How do I update my company address?", "How do I pause a workflow?"),
    ("How do I increase a step timeout?", "Where can I find your DPA?"),
    ("Is there a free trial?", "How do I verify webhook signatures?"),
    ("How do I use Google Sheets with Quillstack?", "How do I unlock my account?"),
    ("hi", "How do I enable SSO?"),
    ("thanks!", "How do I reset my password?"),
]


def build() -> list[dict]:
    rows: list[dict] = []

    def add(kind: str, a: str, b: str, label: int, style: str = "") -> None:
        n = sum(1 for r in rows if r["kind"] == kind)
        rows.append(
            {
                "id": f"{kind}-{n + 1:03d}",
                "a": a,
                "b": b,
                "label": label,
                "kind": kind,
                "style": style,
                "split": "dev" if n % 2 == 0 else "test",
            }
        )

    for base, variants in PARAPHRASES:
        for style, variant in variants:
            add("paraphrase", base, variant, 1, style)
    for kind, pairs in (
        ("near_number", NEAR_NUMBER),
        ("near_amount", NEAR_AMOUNT),
        ("near_date", NEAR_DATE),
        ("near_entity", NEAR_ENTITY),
        ("near_negation", NEAR_NEGATION),
        ("near_topic", NEAR_TOPIC),
        ("unrelated", UNRELATED),
    ):
        for a, b in pairs:
            add(kind, a, b, 0)
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    print(f"wrote {len(rows)} pairs to {OUT}: {kinds}")


if __name__ == "__main__":
    main()
