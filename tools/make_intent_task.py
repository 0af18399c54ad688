#!/usr/bin/env python3
"""Write the customer-support routing task (issue 18's real adaptation check), written for the project by rule:
a customer's message to an online shop, and the team that should handle it — billing, delivery, returns,
technical or account. Messages are built from situation templates (several per team, most avoiding the team's
own name), slot values (products, amounts, days, ...), openers and closers, so wording varies; a fifth of each
team's situations never appear in training, so the test split also asks about situations the fine-tune did not
see. Deterministic (fixed seed); duplicates (after lowercasing) are dropped, and no test message occurs in training.

Writes
  data/finetune/support_intent_train.jsonl  prompt/completion pairs for `plinth finetune --chat none`
  data/tasks/support_intent.jsonl           plinth eval task: 10 "train" lines (few-shot examples, taken from the
                                            training set) and the test lines

The prompt is the one `plinth eval` builds for zero-shot ("Question: {q}\\nAnswer:") and the completion is
" {team}", so a model fine-tuned on the pairs is scored on the text it was trained on.

Usage: python3 tools/make_intent_task.py [--train N] [--test N]
"""
import argparse
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ["billing", "delivery", "returns", "technical", "account"]
QUESTION = ("Which team should handle this customer message: billing, delivery, returns, technical or account?\n"
            "Message: \"{msg}\"")

SLOTS = {
    "product": ["blender", "desk lamp", "pair of headphones", "coffee maker", "backpack", "laptop stand", "kettle",
                "phone case", "rain jacket", "pair of boots", "smart watch", "printer", "toaster", "yoga mat",
                "camera bag", "router", "electric toothbrush", "bookshelf", "gaming mouse", "air fryer"],
    "amount": ["12.99", "24.50", "39", "49.95", "7.80", "129", "18", "64.20", "15", "89.99"],
    "days": ["two", "three", "five", "six", "ten", "twelve", "eight", "four"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    "app": ["app", "website", "mobile app", "site", "checkout page", "iPhone app", "Android app"],
    "person": ["my wife", "my husband", "my son", "my daughter", "a friend", "my flatmate", "my mother"],
}

# {team: [(situation, held_out_for_test)]}; the last situations of each team are test-only
SITUATIONS = {
    "billing": [
        "I was charged twice for the same {product} order.",
        "my card statement shows {amount} dollars more than the total at checkout.",
        "the discount code was accepted but the price I paid did not change.",
        "can I get an invoice with my company's tax number for the {product}?",
        "you took {amount} from my account for an order I cancelled on {weekday}.",
        "the payment failed three times but my bank says the money left anyway.",
        "why is there a monthly fee on my statement when I never signed up for a plan?",
        "I paid with a gift card and the remaining balance vanished.",
        "the receipt lists a shipping fee even though the page said it was free.",
        "I would like to split the payment for the {product} over two cards.",
        "the price dropped by {amount} the day after I bought the {product}; can you adjust what I paid?",
        "my bank flagged a charge from you that I don't recognise.",
        "I think I was billed in euros instead of dollars.",
        "the tax on my order looks far too high for a {product}.",
        "a pending charge of {amount} is still on my card a week after I changed my mind at checkout.",
    ],
    "delivery": [
        "my {product} was supposed to arrive {days} days ago and the tracking has not moved.",
        "the courier left the parcel at the wrong address.",
        "tracking says delivered but there is nothing at my door.",
        "can the {product} be sent to my office instead of my home?",
        "the box was left in the rain and the driver never knocked.",
        "I will be away until {weekday}; can you hold the parcel at the depot?",
        "is express shipping available for the {product}? I need it by {weekday}.",
        "the package has been stuck in customs for {days} days.",
        "only half of my order turned up; the {product} was not in the box.",
        "the driver asked {person} for a signature and then drove off with the parcel.",
        "when will my order leave your warehouse? it has said processing for {days} days.",
        "the tracking number you sent me does not work on the carrier's page.",
        "my parcel went to my old flat even though I updated the address.",
        "the estimated arrival keeps moving back a day every morning.",
        "the van came on {weekday} while I was out and left no card.",
    ],
    "returns": [
        "the {product} does not fit my needs and I would like to send it back.",
        "I received the wrong colour of {product}; how do I swap it?",
        "how many days do I have to return an unopened {product}?",
        "the {product} arrived cracked and I want a replacement.",
        "I sent the {product} back {days} days ago; has it reached you yet?",
        "can I exchange the {product} for a bigger size?",
        "the return label in the box is for another country.",
        "{person} gave me this {product} as a gift; can I return it without a receipt?",
        "do I have to pay postage to send back the {product}?",
        "the {product} stopped being useful to me after one week; can it go back?",
        "I dropped the parcel at the post office; when is the money for the {product} coming back to me?",
        "the seams on the {product} came apart on the first day and I want to hand it back.",
        "I ordered two of the {product} by mistake and want to send one back.",
        "is there a drop-off point near me for sending items back?",
        "the box I received holds somebody else's {product}; I need to swap it for mine.",
    ],
    "technical": [
        "the {app} crashes every time I open my basket.",
        "the {product} will not pair with my phone over Bluetooth.",
        "I can't add anything to my basket; the button does nothing.",
        "the firmware update left the {product} stuck on a blinking light.",
        "your {app} shows a blank white page since this morning.",
        "the {product} keeps switching itself off after a few minutes.",
        "the search on the {app} returns no results for anything.",
        "the setup instructions for the {product} do not match what I see on the screen.",
        "pages on the {app} take a minute to load and then time out.",
        "the {product} makes a grinding noise when I turn it on.",
        "the {app} will not accept my postcode and shows an error.",
        "the {product} gets very hot after ten minutes of use.",
        "the images on the {app} do not load on my tablet.",
        "the {product} resets itself every night and forgets its settings.",
        "the {app} freezes on the loading wheel whenever I tap the menu.",
    ],
    "account": [
        "I forgot my password and the reset email never comes.",
        "please change the email address on my profile.",
        "how do I delete my profile and all my data?",
        "someone else seems to have logged into my profile from another country.",
        "I have two profiles by mistake; can you merge them?",
        "I want to stop getting your newsletter.",
        "my username shows {person}'s name instead of mine.",
        "the two-step verification code goes to an old phone number.",
        "I am locked out after too many sign-in attempts.",
        "can I change the name on my profile after getting married?",
        "how do I add {person} as a second user on my profile?",
        "my loyalty points disappeared from my profile.",
        "I can't remember which email I used to sign up.",
        "please update the phone number you have on file for me.",
        "I never created a profile with you but I keep getting sign-in emails.",
    ],
}
HELD_OUT = 3  # the last three situations of each team are test-only

OPENERS = ["", "", "", "Hi, ", "Hello, ", "Hi there, ", "Good morning, ", "Hey, ", "Quick question: ", "Sorry to bother you, ",
           "Hello team, ", "Help! ", "Dear support, ", "Ugh, ", "Hi all, "]
CLOSERS = ["", "", "", " Thanks.", " Thank you!", " Please help.", " Can you sort this out?", " What should I do?",
           " Any advice?", " Order number {order}.", " This is the second time I'm writing.", " Thanks in advance.",
           " I'd appreciate a quick reply.", " Cheers."]


def fill(rng, text):
    for k, vals in SLOTS.items():
        while "{" + k + "}" in text:
            text = text.replace("{" + k + "}", rng.choice(vals), 1)
    return text.replace("{order}", str(rng.randint(10000, 99999)))


def message(rng, situation):
    opener = rng.choice(OPENERS)
    body = fill(rng, situation)
    body = body[0].upper() + body[1:] if not opener or opener.endswith(": ") or opener.endswith("! ") else body
    return (opener + body + fill(rng, rng.choice(CLOSERS))).strip()


def make(rng, n, teams_situations, seen):
    out = []
    while len(out) < n:
        team = LABELS[len(out) % len(LABELS)]  # balanced
        msg = message(rng, rng.choice(teams_situations[team]))
        if msg.lower() in seen:
            continue
        seen.add(msg.lower())
        out.append((msg, team))
    rng.shuffle(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--test", type=int, default=200)
    a = ap.parse_args()
    rng = random.Random(18)
    seen = set()
    shared = {t: s[:-HELD_OUT] for t, s in SITUATIONS.items()}
    train = make(rng, a.train, shared, seen)
    # half the test from situations seen in training (new slot values, openers, closers), half from held-out ones
    test = make(rng, a.test // 2, shared, seen) + make(rng, a.test - a.test // 2, {t: s[-HELD_OUT:] for t, s in SITUATIONS.items()}, seen)
    rng.shuffle(test)

    def q(msg):
        return QUESTION.format(msg=msg)

    with open(os.path.join(ROOT, "data/finetune/support_intent_train.jsonl"), "w") as f:
        for msg, team in train:
            f.write(json.dumps({"prompt": "Question: " + q(msg) + "\nAnswer:", "completion": " " + team}) + "\n")
    # few-shot examples: the first two training messages of each team, in the order of LABELS twice
    shots = []
    for rnd in range(2):
        for team in LABELS:
            shots.append([m for m, t in train if t == team][rnd])
    with open(os.path.join(ROOT, "data/tasks/support_intent.jsonl"), "w") as f:
        for i, msg in enumerate(shots):
            f.write(json.dumps({"question": q(msg), "choices": LABELS, "answer": i % len(LABELS), "split": "train"}) + "\n")
        for msg, team in test:
            f.write(json.dumps({"question": q(msg), "choices": LABELS, "answer": LABELS.index(team)}) + "\n")
    print(f"train {len(train)}, test {len(test)} ({a.test - a.test // 2} from held-out situations), shots {len(shots)}")


if __name__ == "__main__":
    main()
