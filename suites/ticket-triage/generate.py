"""Deterministic generator for the `ticket-triage` suite.

Writes data/train.jsonl (400), data/dev.jsonl (100) and data/test.jsonl (150) next to this file.
Standard library only; the same seed always yields byte-identical files.

    python suites/ticket-triage/generate.py            # regenerate
    python suites/ticket-triage/generate.py --stats    # regenerate and print label/length stats
    python suites/ticket-triage/generate.py --check    # fail if the committed files differ
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
from collections import Counter
from pathlib import Path

SEED = 20250611
SPLITS = (("train", 400), ("dev", 100), ("test", 150))
CATEGORIES = ("billing", "technical", "account", "shipping", "refund", "feature_request")
PRIORITIES = ("low", "medium", "high", "urgent")
MIN_WORDS, MAX_WORDS = 15, 45
MIN_SUMMARY_WORDS, MAX_SUMMARY_WORDS = 4, 10

# --------------------------------------------------------------------------------------------
# Slot fillers. A template may use any of these as {name}; every slot is drawn for every ticket.
# --------------------------------------------------------------------------------------------
POOLS: dict[str, tuple[str, ...]] = {
    "product": (
        "wireless headphones", "standing desk", "coffee grinder", "phone case", "running shoes",
        "desk lamp", "backpack", "smart watch", "yoga mat", "bluetooth speaker", "office chair",
        "water bottle", "mechanical keyboard", "air purifier", "rain jacket", "blender",
        "webcam", "travel mug", "electric kettle", "monitor stand",
    ),
    "plan": ("Pro", "Basic", "Team", "Business", "Starter", "Premium", "Plus", "Growth"),
    "month": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
    "device": (
        "iPhone 13", "iPhone 15", "Pixel 7", "Galaxy S22", "iPad", "MacBook", "Windows laptop",
        "Chromebook", "Android tablet", "OnePlus 11", "Surface Pro",
    ),
    "error": (
        "E-402", "ERR_504", "error 500", "code 0x80070005", "E1023", "error 408", "ERR_SYNC_17",
        "error 413", "E-9001", "code 2206",
    ),
    "name": (
        "Maria", "Tom", "Priya", "Jonas", "Aiko", "Carlos", "Fatima", "Liam", "Chen", "Olga",
        "Dmitri", "Grace", "Kwame", "Sofia", "Noah", "Ines", "Ravi", "Hannah", "Mateo", "Yuki",
    ),
    "colleague": (
        "Anna", "Ben", "Sara", "David", "Mei", "Omar", "Lucia", "Peter", "Nadia", "Erik",
        "Julia", "Sam", "Leila", "Marco",
    ),
    "area": (
        "dashboard", "reports page", "inbox", "settings page", "calendar", "editor", "projects tab",
        "analytics page", "contacts list",
    ),
    "integration": (
        "Slack", "Zapier", "Salesforce", "Google Sheets", "Microsoft Teams", "Shopify", "HubSpot",
        "Notion", "Jira", "Dropbox",
    ),
    "carrier": ("UPS", "DHL", "FedEx", "USPS", "Royal Mail", "DPD", "GLS"),
    "country": (
        "Canada", "Germany", "Australia", "Ireland", "Japan", "Mexico", "Norway", "Brazil",
        "Portugal", "New Zealand", "Poland",
    ),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "browser": ("Firefox", "Safari", "Chrome", "Edge"),
    "language": ("Polish", "Korean", "Turkish", "Portuguese", "Dutch", "Hindi", "Greek", "Swedish"),
    "competitor": ("TaskFlow", "Nimbus", "Orbitly", "Planbase", "Trackr"),
    "platform": ("Apple Watch", "Linux desktop", "Android tablets", "Windows desktop", "Kindle Fire"),
    "city": ("Leeds", "Austin", "Lyon", "Porto", "Denver", "Utrecht", "Galway", "Osaka", "Perth"),
}
# (phrase in the ticket, phrase in the summary)
FEATURES = (
    ("CSV export for reports", "csv export for reports"),
    ("a dark mode", "dark mode"),
    ("a calendar view", "calendar view"),
    ("bulk editing of tasks", "bulk editing of tasks"),
    ("an offline mode", "offline mode"),
    ("keyboard shortcuts", "keyboard shortcuts"),
    ("custom fields on contacts", "custom fields on contacts"),
    ("scheduled email reports", "scheduled email reports"),
    ("recurring tasks", "recurring tasks"),
    ("a kanban board", "kanban board"),
    ("saved search filters", "saved search filters"),
    ("an undo button for deletions", "undo button for deletions"),
    ("a read-only user role", "read-only user role"),
    ("custom branding on shared reports", "custom branding on reports"),
    ("time tracking per task", "time tracking per task"),
)


def _slots(rng: random.Random) -> dict[str, str]:
    s = {k: rng.choice(v) for k, v in POOLS.items()}
    plans = list(POOLS["plan"])
    plans.remove(s["plan"])
    s["plan2"] = rng.choice(plans)
    cur = rng.choice(("$", "$", "€", "£"))
    whole = rng.choice((9, 12, 19, 24, 29, 39, 49, 59, 79, 99, 119, 149, 199, 249, 320, 480))
    cents = rng.choice(("", ".00", ".99", ".50"))
    s["amount"] = f"{cur}{whole}{cents}"
    s["order"] = str(rng.randint(10000, 989999))
    s["days"] = str(rng.randint(4, 19))
    s["day"] = str(rng.randint(1, 28))
    s["n"] = str(rng.choice((6, 8, 12, 15, 20, 25, 30, 40, 60, 85, 120, 200)))
    s["vat"] = rng.choice(("DE", "IE", "FR", "NL", "GB")) + str(rng.randint(100000000, 999999999))
    domain = rng.choice(("acme.io", "northwind.com", "bluepeak.co", "fernhill.org", "mail.com"))
    s["email"] = f"{rng.choice(POOLS['colleague']).lower()}@{domain}"
    feat = rng.choice(FEATURES)
    s["feature"], s["feature_s"] = feat
    return s


# --------------------------------------------------------------------------------------------
# Issue templates: (phrasings, summary). A phrasing is the core of the ticket; the summary is a
# function of the template and the slots only, so ROUGE-L against it is meaningful.
# --------------------------------------------------------------------------------------------
T = tuple[tuple[str, ...], str]

TEMPLATES: dict[str, tuple[T, ...]] = {
    "billing": (
        ((
            "My invoice for {month} shows {amount}, but the {plan} plan should cost less than that. Can you check it?",
            "The {month} invoice says {amount}, which doesn't match the {plan} price on your website.",
            "why is my {month} invoice {amount}? we are on the {plan} plan and it never cost that much",
        ), "wrong invoice amount for {month} on {plan} plan"),
        ((
            "There is a charge of {amount} from you on my card statement from {month} {day} and I don't know what it is for.",
            "I can't match a {amount} payment to your company with any subscription we have. What is it for?",
            "Can you explain the {amount} charge on my card? I don't recognise it.",
        ), "unrecognised charge of {amount} on card"),
        ((
            "My {plan} renewal failed because the card was declined, but the same card works everywhere else.",
            "I got an email saying the payment for our {plan} plan was declined. The card is valid until 2028, so what's wrong?",
            "The {plan} subscription payment keeps getting declined even though there's money on the card.",
        ), "card declined on {plan} plan renewal"),
        ((
            "How do I replace the credit card on file? The old one expires this month and I don't want the subscription to lapse.",
            "I need to switch our billing from my personal card to the company card. Where do I change the payment method?",
            "Please help me update the payment card on our account, the current one is being cancelled by the bank.",
        ), "wants to update payment card on file"),
        ((
            "Our invoices are missing our VAT number {vat}. Could you add it and reissue the {month} invoice?",
            "Our accountant needs the company tax ID on the {month} invoice. Please add {vat} and send a new one.",
        ), "add vat number to {month} invoice"),
        ((
            "What would the {plan} plan cost if we move from monthly to yearly billing? Is there a discount for paying upfront?",
            "We're thinking about annual billing on {plan}. How much would that be per year compared to monthly?",
        ), "asks price of annual billing on {plan}"),
        ((
            "Our {plan} subscription went up to {amount} this month without any notice. Was there a price change?",
            "Why did the {plan} price jump to {amount}? Nobody told us about an increase.",
        ), "unexpected price increase on {plan} plan"),
        ((
            "We upgraded from {plan} to {plan2} mid-cycle and the invoice charges a full month of both. How does proration work?",
            "After switching from {plan} to {plan2} we were billed for both plans this month. Is that how proration works?",
        ), "billed for both plans after upgrade to {plan2}"),
        ((
            "I can't find the invoice for {month} anywhere in the billing section. Can you email me a copy?",
            "Please send me a PDF copy of the {month} invoice, it isn't showing up in my billing history.",
        ), "needs a copy of {month} invoice"),
        ((
            "Invoices keep going to our former accountant. Please send them to {email} from now on.",
            "Can you change the billing contact for our invoices to {email}? The current address is no longer monitored.",
        ), "change billing contact email for invoices"),
        ((
            "Our finance team can only pay by bank transfer. Can we pay the {plan} plan against an invoice instead of by card?",
            "Is it possible to pay by wire transfer with a purchase order? Our company doesn't allow card payments.",
        ), "wants to pay by bank transfer"),
        ((
            "We're billed in US dollars but the company is based in {country}. Can we be invoiced in local currency?",
            "Is there a way to get billed in our local currency? We're in {country} and the exchange fees add up.",
        ), "wants invoices in local currency"),
        ((
            "Checkout showed an error but {amount} was still taken from my account. Did the payment go through or not?",
            "The payment page crashed but my bank shows {amount} pending to you. Is my {plan} plan paid now?",
        ), "unclear if payment of {amount} went through"),
    ),
    "technical": (
        ((
            "The app crashes as soon as I open the {area} on my {device}. I already reinstalled it.",
            "Every time I go to the {area} on my {device} the app just closes.",
            "app keeps crashing on {device} when i open the {area}, reinstalling did nothing",
        ), "app crashes when opening {area} on {device}"),
        ((
            "Uploading any file larger than a few MB fails with {error}.",
            "I get {error} whenever I try to upload an attachment. Small files work fine.",
        ), "file upload fails with {error}"),
        ((
            "Changes I make on my {device} don't sync to the web version anymore.",
            "Nothing I edit on the {device} shows up on my other devices. Sync seems to be broken.",
        ), "changes not syncing from {device}"),
        ((
            "The {area} takes more than a minute to load since yesterday. Everything else is fine.",
            "Your {area} has become extremely slow, it spins for ages before showing anything.",
        ), "{area} loading extremely slowly"),
        ((
            "The {integration} integration stopped posting updates on {weekday}. Reconnecting it didn't help.",
            "Since {weekday} nothing comes through from the {integration} integration, even after I re-authorised it.",
        ), "{integration} integration stopped working"),
        ((
            "I'm not getting any push notifications on my {device} even though they are enabled in settings.",
            "Notifications stopped arriving on the {device}. I checked the permissions and they are on.",
        ), "no push notifications on {device}"),
        ((
            "Our calls to your API started returning {error} this morning. Nothing changed on our side.",
            "The API responds with {error} to every request since the last deploy on your end.",
        ), "api requests failing with {error}"),
        ((
            "Search returns no results, even for records I know exist. It worked last week.",
            "The search bar in the {area} finds nothing at all, even exact names.",
        ), "search returns no results"),
        ((
            "When I export a report to PDF, all the text comes out as garbled symbols.",
            "PDF exports are unreadable, the characters are scrambled on every page.",
        ), "pdf export shows garbled text"),
        ((
            "Since the latest update the app freezes on the loading screen on my {device}.",
            "After updating, the app hangs on the splash screen on the {device} and never opens.",
        ), "app freezes after update on {device}"),
        ((
            "Webhooks aren't firing for new orders anymore. Our logs show nothing received since {weekday}.",
            "We stopped receiving webhook events on {weekday}. The endpoint is up and returns 200.",
        ), "webhooks not firing since {weekday}"),
        ((
            "The charts on the {area} are blank in {browser}, but they show up in other browsers.",
            "In {browser} the {area} only shows empty boxes where the graphs should be.",
        ), "charts blank in {browser}"),
        ((
            "Importing our contacts from a CSV file stops halfway with {error}.",
            "The CSV import fails at around 50 percent and shows {error}. The file looks fine to me.",
        ), "csv import fails with {error}"),
    ),
    "account": (
        ((
            "I requested a password reset three times but the email never arrives, not even in spam.",
            "The password reset link is not arriving in my inbox. I've checked spam and tried twice.",
            "never getting the reset password email, tried several times",
        ), "password reset email not arriving"),
        ((
            "How can I change the email address I use to log in? I'm moving to {email}.",
            "Please change the login email on my account to {email}, I'm leaving my old provider.",
        ), "wants to change login email address"),
        ((
            "I lost my phone with the authenticator app, so I can't get the two-factor code to sign in.",
            "My phone was stolen and the 2FA codes were on it. How do I get back into my account?",
        ), "lost phone with two-factor codes"),
        ((
            "Please delete my account and all the data connected to it.",
            "I'd like my account closed permanently and my personal data removed.",
        ), "wants account and data deleted"),
        ((
            "How do I add my colleague {colleague} to our team workspace? The invite button is greyed out.",
            "I want to invite {colleague} as a new user on our account but can't find where to do it.",
        ), "add {colleague} as user to team account"),
        ((
            "My account got locked after a few wrong password attempts and I can't sign in now.",
            "It says my account is locked for security reasons. I only mistyped my password twice.",
        ), "account locked after failed login attempts"),
        ((
            "Is it possible to change my username? I picked a silly one years ago.",
            "I want to rename my profile username, but the field can't be edited.",
        ), "wants to change profile username"),
        ((
            "I accidentally created two accounts with different emails. Can you merge them into one?",
            "I have a duplicate account from signing up with Google. Could you combine both accounts?",
        ), "merge two duplicate user accounts"),
        ((
            "I'm leaving the company and need to transfer ownership of our workspace to {colleague}.",
            "Please make {colleague} the owner of our organisation account, I'm stepping down as admin.",
        ), "transfer account ownership to {colleague}"),
        ((
            "{colleague} left the company last week. Please remove their access to our account.",
            "A former employee, {colleague}, still has access to our workspace. How do we revoke it?",
        ), "remove access for former employee {colleague}"),
        ((
            "The verification link in the signup email has expired and I can't activate my account.",
            "I never managed to verify my email, the link says it's expired. Can you send a new one?",
        ), "email verification link expired"),
        ((
            "Our company changed its name. How do I update the organisation name on our profile?",
            "We rebranded and need the company name on our account profile changed.",
        ), "update company name on account profile"),
        ((
            "{colleague} needs admin rights on our account so they can manage settings. How do I change their role?",
            "Please upgrade {colleague} from member to admin in our workspace, I can't find the option.",
        ), "give {colleague} admin role"),
    ),
    "shipping": (
        ((
            "My order {order} still hasn't arrived after {days} days. Where is it?",
            "It's been {days} days since I ordered and order {order} is nowhere to be seen.",
            "ordered {days} days ago (order {order}) and still nothing has arrived",
        ), "order not arrived after {days} days"),
        ((
            "The {carrier} tracking for order {order} hasn't updated in a week. Is the parcel lost?",
            "Tracking on my {carrier} shipment has been stuck on 'in transit' for days.",
        ), "{carrier} tracking not updating"),
        ((
            "The tracking says my {product} was delivered, but to an address in {city} I have never lived at.",
            "My parcel was delivered to the wrong address in {city}. It should have come to my home.",
        ), "{product} delivered to wrong address"),
        ((
            "I moved last week. Can you change the delivery address for order {order} before it ships?",
            "Please update the shipping address on my order {order}, I gave the old one by mistake.",
        ), "wants to change delivery address"),
        ((
            "My {product} arrived with a crushed box and a cracked part. Can you send a replacement?",
            "The {product} came damaged in transit. I'd like a replacement unit shipped out.",
        ), "{product} arrived damaged, wants replacement"),
        ((
            "Do you ship to {country}? I'd like to order a {product} but can't select my country at checkout.",
            "Is international shipping to {country} available, and how long would delivery take?",
        ), "asks about shipping to {country}"),
        ((
            "When will my {product} be delivered? The order confirmation doesn't give a date.",
            "Can you tell me the expected delivery date for the {product} I ordered?",
        ), "asks delivery date for {product}"),
        ((
            "My package arrived but the {product} was missing from it. Only the accessories were inside.",
            "Order {order} came without the {product}, the rest of the items were there.",
        ), "{product} missing from delivered package"),
        ((
            "{carrier} marked my parcel as delivered yesterday, but nothing arrived and the neighbours don't have it.",
            "The status says delivered but I never received the package. I was home all day.",
        ), "package marked delivered but not received"),
        ((
            "Can I upgrade order {order} to express shipping? I need it sooner than the standard estimate.",
            "Is it possible to switch my order to next-day delivery? I'm happy to pay the difference.",
        ), "wants to upgrade to express shipping"),
        ((
            "Order {order} has been stuck in 'processing' for {days} days and hasn't shipped yet.",
            "My order still shows as processing after {days} days. When will it actually be sent out?",
        ), "order stuck in processing for {days} days"),
        ((
            "I ordered a {product} but received a completely different item. Please send the right one.",
            "The parcel for order {order} contained the wrong product instead of my {product}.",
        ), "received wrong item instead of {product}"),
        ((
            "Only half of order {order} was delivered. Is the rest coming in a separate package?",
            "I got part of my order today, but the {product} wasn't included. Was it shipped separately?",
        ), "only part of order delivered"),
    ),
    "refund": (
        ((
            "I'd like to return the {product} I bought, it's still unopened. How do I get my money back?",
            "Please refund my {product}, I changed my mind and haven't opened the box.",
        ), "refund for unopened {product}"),
        ((
            "I was charged {amount} twice for the same order. Please refund the duplicate payment.",
            "You took {amount} two times from my card. I want the second charge refunded.",
        ), "refund duplicate charge of {amount}"),
        ((
            "I want to cancel my {plan} plan and get a refund for the unused months.",
            "Please cancel our {plan} subscription and refund the remaining part of the year.",
        ), "cancel {plan} plan and refund unused time"),
        ((
            "Your service was down for most of {weekday} and we couldn't work. We expect a refund for that day.",
            "After the outage on {weekday} I think we deserve a partial refund on this month's fee.",
        ), "refund requested for service outage"),
        ((
            "You confirmed my refund {days} days ago but the money still isn't back on my card.",
            "I was promised a refund of {amount} {days} days ago and it hasn't shown up yet.",
        ), "refund not received after {days} days"),
        ((
            "I meant to buy the monthly {plan} plan but clicked annual by mistake. Can I get that refunded?",
            "I accidentally paid for a full year of {plan}. Please refund it so I can switch to monthly.",
        ), "refund accidental annual {plan} purchase"),
        ((
            "The {product} stopped working after two weeks. I don't want a replacement, I want my money back.",
            "My {product} broke within a month. I'd like a full refund rather than a repair.",
        ), "money back for broken {product}"),
        ((
            "My refund came through as {amount}, but I paid much more than that. Why was it only partial?",
            "You refunded {amount} for my return, which is less than what I paid. Please send the rest.",
        ), "refund amount lower than paid"),
        ((
            "My discount code wasn't applied at checkout, so I paid {amount} too much. Please refund the difference.",
            "The promo price didn't apply to my order. Could you refund the difference of {amount}?",
        ), "refund difference for missing discount"),
        ((
            "The card I paid with is closed now. Can the refund for order {order} go to a different card?",
            "Please send my refund to a new card, the original one was cancelled after fraud.",
        ), "send refund to a different card"),
        ((
            "I forgot to cancel the free trial and got charged {amount} for {plan}. Can I have that refunded?",
            "My trial turned into a paid {plan} subscription this morning. I never used it, please refund.",
        ), "refund charge after free trial ended"),
        ((
            "The {product} looks nothing like the photos on your site. I want to send it back for a refund.",
            "The {product} is not as described, the size and colour are wrong. Please refund me.",
        ), "{product} not as described, wants refund"),
        ((
            "I paid extra for express delivery but the {product} arrived a week late. Please refund the shipping fee.",
            "Express shipping was {amount} and the order still came late. I'd like that fee back.",
        ), "refund express shipping fee for late delivery"),
    ),
    "feature_request": (
        ((
            "It would be great if you could add {feature}. We'd use it every day.",
            "Please consider adding {feature}, it would save our team a lot of time.",
        ), "wants {feature_s} added"),
        ((
            "Feature request: {feature}. Right now we do it by hand.",
            "Small suggestion for the product: {feature} would make things much easier.",
        ), "suggests adding {feature_s}"),
        ((
            "Are there any plans to add {feature}? I couldn't find it on the roadmap.",
            "Is {feature} on your roadmap at all? Would love to see it.",
        ), "asks if {feature_s} is planned"),
        ((
            "We'd love a native {integration} integration so we don't need workarounds.",
            "Could you build an integration with {integration}? Many of our users live in it.",
        ), "requests native {integration} integration"),
        ((
            "Please add {language} as an interface language. Half of our staff would benefit.",
            "Any chance the app will support {language}? Our team doesn't all speak English.",
        ), "requests {language} language support"),
        ((
            "Could you expose an API endpoint for invoices? We'd like to pull them into our accounting tool.",
            "It would help a lot to have an API endpoint that lists invoices so we can automate bookkeeping.",
        ), "requests api endpoint for invoices"),
        ((
            "Will there ever be an app for {platform}? I'd use it much more than the website.",
            "Please make a version of the app for {platform}, the browser version is clunky there.",
        ), "requests app for {platform}"),
        ((
            "Our team keeps asking for {feature}. Any chance it makes it into a future release?",
            "Several colleagues asked me to request {feature}. Please pass it on to the product team.",
        ), "team requests {feature_s}"),
        ((
            "{competitor} has {feature} and it's the one thing we miss after switching to you.",
            "Compared to {competitor}, the only thing missing is {feature}. Please add it.",
        ), "wants {feature_s} like {competitor}"),
        ((
            "It would be nice to choose a custom colour theme for the {area}.",
            "Idea: let users customise the layout of the {area}, like moving widgets around.",
        ), "suggests customisable {area} layout"),
        ((
            "Could you add a way to share the {area} with people outside our account, read-only?",
            "I'd love a public share link for the {area} so clients can view it without logging in.",
        ), "wants public share link for {area}"),
        ((
            "Suggestion: let us set reminders on items in the {area} so nothing gets forgotten.",
            "It would be useful to get email reminders for deadlines in the {area}.",
        ), "suggests reminders in {area}"),
        ((
            "Is there a way to see a history of changes in the {area}? If not, please add one.",
            "Please add an activity log to the {area} so we can see who changed what.",
        ), "requests change history in {area}"),
    ),
}

# --------------------------------------------------------------------------------------------
# Priority cues. Generic (not category-bound); placed before, inside or after the issue.
# --------------------------------------------------------------------------------------------
CUES: dict[str, tuple[str, ...]] = {
    "urgent": (
        "URGENT: our whole team is blocked until this is fixed.",
        "This is stopping all {n} people in our company from working.",
        "We need this solved before tomorrow's launch.",
        "If this isn't fixed today I will file a chargeback with my bank.",
        "I will involve our lawyers if I don't hear back today.",
        "We are losing money every hour this goes on.",
        "Our site is down for all customers because of this.",
        "Our client demo is in two hours and this has to work.",
        "This is an emergency, please escalate immediately!",
        "Critical: none of our {n} stores can operate right now.",
        "Please treat this as urgent, our entire operation is on hold.",
        "Need an answer within the hour, this is business critical.",
    ),
    "high": (
        "This is the third time I write about this.",
        "I've already contacted you twice without an answer.",
        "It's blocking my work, please prioritise it.",
        "I really need this sorted by {weekday}.",
        "A few of my colleagues are affected too, please fix it soon.",
        "I'm getting quite frustrated, nobody has replied to my last email.",
        "This is seriously affecting my work this week.",
        "Please handle this quickly, I rely on it every day.",
        "I need it resolved before my trip on {weekday}.",
        "Please look at this soon, it's holding up my project.",
        "Second follow-up on this, I'd appreciate a fast reply.",
    ),
    "medium": (
        "It's not critical, but I'd like it sorted this week.",
        "There's a workaround, but it's a bit annoying.",
        "A reply in the next few days would be great.",
        "It's more of an inconvenience than a real problem.",
        "Could you check this in the next couple of days?",
        "Somewhat annoying, but I can manage for now.",
        "Please get back to me sometime this week.",
        "It's a moderate issue for us, it isn't blocking anything.",
        "Would be good to have this fixed within the week.",
        "Not a showstopper, but I'd like an answer soonish.",
    ),
    "low": (
        "No rush at all.",
        "Whenever you get a chance.",
        "Just curious, it's not urgent.",
        "Not important, just wanted to flag it.",
        "Take your time, it can wait until next month.",
        "Low priority on my side.",
        "Just a small thing, no hurry.",
        "It's only a minor thing, nothing pressing.",
        "This isn't time-sensitive in any way.",
        "No need to hurry, reply whenever it suits you.",
    ),
}

GREETINGS = (
    "Hi,", "Hello,", "Hi team,", "Hey there,", "Good morning,", "Dear support,", "Hello support team,",
    "hi,", "Hi {team},", "Hey,", "hello!",
)
SIGNOFFS = (
    "Thanks, {name}", "Best, {name}", "Cheers", "Thank you!", "Regards, {name}", "- {name}",
    "Thanks in advance.", "thx", "Kind regards, {name}", "Thanks!",
)
# Passing mentions of another topic; the key is the topic mentioned (never the ticket's category).
ASIDES: dict[str, tuple[str, ...]] = {
    "billing": (
        "By the way, last month's invoice looked fine.",
        "(Our payment details are up to date, in case that matters.)",
    ),
    "technical": (
        "Unrelated, but the new dashboard looks great.",
        "The app itself works fine otherwise.",
    ),
    "account": (
        "I can log in fine, so it's not an account problem.",
        "(I already updated my password last week, so that's not it.)",
    ),
    "shipping": (
        "My last order arrived on time, so no complaints there.",
        "Side note: delivery was quick last time.",
    ),
    "refund": (
        "I'm not asking for a refund, I just want this sorted.",
        "Not looking for money back here.",
    ),
    "feature_request": (
        "A dark mode would be nice someday too, but that's another topic.",
        "Separately, I'd love more export options one day.",
    ),
}


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------
def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.?!])\s+", text.strip())
    return [p for p in parts if p]


def _typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha() and w.islower()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randint(1, len(w) - 3)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def _fmt(template: str, slots: dict[str, str]) -> str:
    out = template.format(**slots)
    return out[0].upper() + out[1:] if template[:1].isupper() or template[:1] == "{" else out


def _make_ticket(rng: random.Random, category: str, priority: str) -> tuple[str, str]:
    slots = _slots(rng)
    slots["team"] = rng.choice(("all", "folks", "support"))
    phrasings, summary_t = rng.choice(TEMPLATES[category])
    core = _sentences(_fmt(rng.choice(phrasings), slots))
    cues = rng.sample(CUES[priority], 2 if rng.random() < 0.15 else 1)
    cues = [_fmt(c, slots) for c in cues]

    body = list(core)
    # position of the (first) cue: start, between core sentences, or end
    positions = ["start", "end", "end"] + (["middle"] if len(core) > 1 else [])
    pos = rng.choice(positions)
    if pos == "start":
        body = [cues[0]] + body
    elif pos == "middle":
        body = body[:1] + [cues[0]] + body[1:]
    else:
        body = body + [cues[0]]
    if len(cues) > 1:
        body.append(cues[1])
    if rng.random() < 0.2:
        other = rng.choice([c for c in CATEGORIES if c != category])
        aside = rng.choice(ASIDES[other])
        at = rng.choice((len(body), len(body), max(1, len(body) - 1)))
        body.insert(at, aside)

    parts = []
    if rng.random() < 0.45:
        parts.append(_fmt(rng.choice(GREETINGS), slots))
    parts.extend(body)
    if rng.random() < 0.35:
        parts.append(_fmt(rng.choice(SIGNOFFS), slots))
    text = " ".join(parts)

    r = rng.random()
    if r < 0.12:
        text = text.lower().replace("please", "pls")
    elif r < 0.2:
        text = text.rstrip(".!")
    if rng.random() < 0.15:
        text = _typo(rng, text)

    summary = summary_t.format(**slots).lower()
    return text, summary


def _norm(text: str) -> str:
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


def _label_grid(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """Near-uniform over categories, priorities and their 24 combinations."""
    combos = [(c, p) for c in CATEGORIES for p in PRIORITIES]
    grid = combos * (n // len(combos))
    cats, pris = list(CATEGORIES), list(PRIORITIES)
    rng.shuffle(cats)
    rng.shuffle(pris)
    # the remainder cycles through categories and shifts priorities, so counts stay within +-1 or 2
    grid += [(cats[i % 6], pris[(i + i // 6) % 4]) for i in range(n - len(grid))]
    rng.shuffle(grid)
    return grid


NGRAM = 8
MAX_TRAIN_COVERAGE = 0.5  # stricter than `tunebench data check`'s 0.7 contamination threshold


def _ngrams(text: str) -> set[tuple[str, ...]]:
    w = _norm(text).split()
    return {tuple(w[i : i + NGRAM]) for i in range(len(w) - NGRAM + 1)}


def _near_copy_of_train(text: str, index: dict[tuple[str, ...], set[int]]) -> bool:
    """True when one train ticket covers >= MAX_TRAIN_COVERAGE of this ticket's 8-grams (the same
    ticket with another greeting or a typo): such dev/test items would be contaminated."""
    grams = _ngrams(text)
    if not grams:
        return False
    hits: dict[int, int] = {}
    for g in grams:
        for row in index.get(g, ()):
            hits[row] = hits.get(row, 0) + 1
    return bool(hits) and max(hits.values()) / len(grams) >= MAX_TRAIN_COVERAGE


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    train_index: dict[tuple[str, ...], set[int]] = {}
    out: dict[str, list[dict]] = {}
    for split, n in SPLITS:
        rows = []
        for i, (cat, pri) in enumerate(_label_grid(rng, n), start=1):
            for _ in range(1000):
                text, summary = _make_ticket(rng, cat, pri)
                nw = len(text.split())
                if (
                    MIN_WORDS <= nw <= MAX_WORDS
                    and _norm(text) not in seen
                    and (split == "train" or not _near_copy_of_train(text, train_index))
                ):
                    break
            else:  # pragma: no cover - would mean the template space is exhausted
                raise RuntimeError(f"could not draw a fresh ticket for {split} {cat}/{pri}")
            seen.add(_norm(text))
            if split == "train":
                for g in _ngrams(text):
                    train_index.setdefault(g, set()).add(i)
            target = {"category": cat, "priority": pri, "summary": summary}
            rows.append({
                "id": f"tt-{split}-{i:04d}",
                "messages": [
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": json.dumps(target, ensure_ascii=False)},
                ],
                "metadata": {"category": cat, "priority": pri},
            })
        out[split] = rows
    _check(out)
    return out


def _check(data: dict[str, list[dict]]) -> None:
    for split, n in SPLITS:
        assert len(data[split]) == n, (split, len(data[split]))
    texts = {s: [r["messages"][0]["content"] for r in rows] for s, rows in data.items()}
    all_norm = [_norm(t) for ts in texts.values() for t in ts]
    assert len(all_norm) == len(set(all_norm)), "duplicate ticket text"
    train = set(texts["train"]) | {_norm(t) for t in texts["train"]}
    for split in ("dev", "test"):
        for t in texts[split]:
            assert t not in train and _norm(t) not in train, f"{split} ticket leaks into train: {t!r}"
    for rows in data.values():
        for r in rows:
            text = r["messages"][0]["content"]
            assert MIN_WORDS <= len(text.split()) <= MAX_WORDS, text
            target = json.loads(r["messages"][1]["content"])
            assert list(target) == ["category", "priority", "summary"]
            assert target["category"] in CATEGORIES and target["priority"] in PRIORITIES
            assert MIN_SUMMARY_WORDS <= len(target["summary"].split()) <= MAX_SUMMARY_WORDS, target
            assert len(target["summary"]) <= 120
            assert r["metadata"] == {"category": target["category"], "priority": target["priority"]}
    for cat, temps in TEMPLATES.items():
        assert len(temps) >= 12, cat


def _render(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _stats(data: dict[str, list[dict]], seed: int) -> None:
    for split, rows in data.items():
        cats = Counter(r["metadata"]["category"] for r in rows)
        pris = Counter(r["metadata"]["priority"] for r in rows)
        words = [len(r["messages"][0]["content"].split()) for r in rows]
        swords = [len(json.loads(r["messages"][1]["content"])["summary"].split()) for r in rows]
        print(f"[{split}] n={len(rows)}")
        print("  category:", dict(sorted(cats.items())))
        print("  priority:", {p: pris[p] for p in PRIORITIES})
        print(f"  ticket words: mean={sum(words) / len(words):.1f} min={min(words)} max={max(words)}")
        print(f"  summary words: mean={sum(swords) / len(swords):.1f} min={min(swords)} max={max(swords)}")
    rng = random.Random(seed + 1)
    print("examples:")
    for r in rng.sample(data["train"] + data["dev"] + data["test"], 5):
        print(f"  {r['id']}: {r['messages'][0]['content']}")
        print(f"    -> {r['messages'][1]['content']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--stats", action="store_true", help="print label and length statistics")
    ap.add_argument("--check", action="store_true", help="only verify the files on disk are up to date")
    args = ap.parse_args(argv)

    data = generate(args.seed)
    if args.check:
        stale = [s for s, rows in data.items()
                 if not (args.out / f"{s}.jsonl").exists()
                 or (args.out / f"{s}.jsonl").read_text(encoding="utf-8") != _render(rows)]
        if stale:
            print(f"out of date: {', '.join(stale)}", file=sys.stderr)
            return 1
        print("data files are up to date")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        for split, rows in data.items():
            (args.out / f"{split}.jsonl").write_text(_render(rows), encoding="utf-8", newline="\n")
            print(f"wrote {args.out / f'{split}.jsonl'} ({len(rows)} items)")
    if args.stats:
        _stats(data, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
