"""Subtitle template conformance: the share of events with no style-profile violation left.

Two sources, printed side by side:

- generated word timings (no ASR, seconds to run), the scenarios the tests use: cuts 1-15
  frames from speech starts and ends at 23.976, 25 and 29.97 fps, a long monologue, quick
  two-speaker exchanges, Korean, fast speech, and random dialogue with random cuts;
- titles Prism has processed (``subtitle_template.json`` under the artifact root), e.g. the
  sample title after ``prism demo``.

    .venv/bin/python benchmarks/subtitle_conformance.py [--titles] [--seeds 60]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from fractions import Fraction

from prism.audio.asr import Word
from prism.subtitles import FrameClock, FrameRate, build_template, load_profile

RATES = {"23.976": Fraction(24000, 1001), "25": Fraction(25), "29.97": Fraction(30000, 1001)}
SENTENCES = ["The harbour was quiet when the boats came back.", "I counted nine of them.",
             "Then the market will be busy before the rain.", "Nobody saw the lighthouse keeper leave.",
             "We should leave early tomorrow morning."]
VOCABULARY = ("the harbour was quiet when boats came back I counted nine of them all full fish then market "
              "will be busy before rain nobody saw lighthouse keeper leave we should early").split()


def say(text, start_s, speaker="S1", per_char_s=0.055, pause_s=0.05):
    out, t = [], start_s
    for word in text.split():
        d = 0.1 + per_char_s * len(word)
        out.append(Word(start_s=round(t, 3), end_s=round(t + d, 3), text=word, speaker=speaker,
                        probability=0.9))
        t += d + pause_s
    return out


def cuts_near_speech(fps):
    words, cuts, t = [], [], 1.0
    for where in ("before_start", "after_start", "before_end", "after_end"):
        for k in range(1, 16):
            w = say(SENTENCES[(k + len(where)) % len(SENTENCES)], t)
            start, end = int(w[0].start_s * fps), int(w[-1].end_s * fps) + 1
            cuts.append({"before_start": start - k, "after_start": start + k, "before_end": end - k,
                         "after_end": end + k}[where])
            words += w
            t = w[-1].end_s + 2.0
    return words, cuts


def monologue(fps):
    return say(" ".join(SENTENCES * 6).replace(".", ",", 7), 0.6), [int(x * fps) for x in (17.3, 31.05, 44.8)]


def exchange(fps):
    words, t = [], 1.0
    for i, line in enumerate(["Ready?", "Almost.", "Now?", "Yes, go.", "Where?", "Left!", "Got it.", "Run!"]):
        w = say(line, t, speaker="S1" if i % 2 == 0 else "S2")
        words += w
        t = w[-1].end_s + 0.25
    return words + say("That was far too close for comfort, and you know it.", t + 1.5), [int(2.2 * fps)]


def korean(fps):
    text = ("오늘 밤에는 비가 많이 온다고 했어요. 그래서 우리는 일찍 출발해야 해요. 그 사람이 창고 열쇠를 "
            "가지고 있으니까 같이 가야 합니다. 알겠어요, 정오에 떠나요.")
    return say(text, 0.8, per_char_s=0.16), [int(6.1 * fps)]


def fast(fps):
    w = say("Listen carefully because I will only explain this extraordinary procedure once, understand? "
            "Absolutely everything depends on it.", 1.0, per_char_s=0.012, pause_s=0.0)
    return w + say("Okay.", w[-1].end_s + 0.3, speaker="S2"), []


def random_dialogue(seed):
    r = random.Random(seed)
    fps = list(RATES.values())[seed % 3]
    words, t = [], r.uniform(0.3, 2)
    for _ in range(r.randint(8, 20)):
        text = " ".join(r.choice(VOCABULARY) for _ in range(r.randint(1, 16))) + r.choice([".", "?", ",", ""])
        w = say(text, t, speaker=r.choice(["S1", "S2", "S3"]), per_char_s=r.uniform(0.03, 0.09),
                pause_s=r.uniform(0.0, 0.15))
        words += w
        t = w[-1].end_s + r.choice([0.05, 0.2, 0.4, 0.8, 1.5, 3.0])
    return fps, words, sorted({int(r.uniform(0, t) * fps) for _ in range(int(t / 2.5))})


def run(name, fps, words, cuts, language, profile, totals):
    clock = FrameClock.constant(FrameRate.of(fps), max(w.end_s for w in words) + 3.0)
    t = build_template(0, language, words, clock, cuts, profile)
    left = Counter(r.rule for r in t.remaining)
    totals["events"] += len(t.events)
    totals["clean"] += round(t.conformance_rate * len(t.events))
    print(f"{name:<34} {len(t.events):>6} {t.conformance_rate:>9.3f} {sum(r.fixed for r in t.conformance):>6}  "
          f"{dict(left) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=60, help="random dialogues")
    parser.add_argument("--titles", action="store_true", help="also the processed titles under PRISM_HOME")
    args = parser.parse_args()
    profile = load_profile()
    print(f"style {profile.label}\n{'scenario':<34} {'events':>6} {'conform':>9} {'fixed':>6}  left by rule")
    totals: Counter = Counter()
    for rate, fps in RATES.items():
        run(f"cuts 1-15 frames from speech @{rate}", fps, *cuts_near_speech(fps), "en", profile, totals)
        run(f"long monologue @{rate}", fps, *monologue(fps), "en", profile, totals)
        run(f"quick two-speaker exchange @{rate}", fps, *exchange(fps), "en", profile, totals)
        run(f"Korean @{rate}", fps, *korean(fps), "ko", profile, totals)
    run("fast speech @25", RATES["25"], *fast(RATES["25"]), "en", profile, totals)
    scripted = totals["clean"] / totals["events"]
    random_totals: Counter = Counter()
    for seed in range(args.seeds):
        fps, words, cuts = random_dialogue(seed)
        clock = FrameClock.constant(FrameRate.of(fps), max(w.end_s for w in words) + 3.0)
        t = build_template(0, "en", words, clock, cuts, profile)
        random_totals["events"] += len(t.events)
        random_totals["clean"] += round(t.conformance_rate * len(t.events))
        random_totals.update(r.rule for r in t.remaining)
    print(f"{'random dialogue, ' + str(args.seeds) + ' titles':<34} {random_totals['events']:>6} "
          f"{random_totals['clean'] / random_totals['events']:>9.3f}         "
          f"{ {k: v for k, v in random_totals.items() if k not in ('events', 'clean')} }")
    print(f"\nscripted scenarios: {totals['clean']}/{totals['events']} events conform ({scripted:.3f})")
    if args.titles:
        from prism.settings import get_settings
        from prism_assets.resources import build_resources

        store = build_resources(get_settings())["storage"].store()
        for title in store.list_titles():
            if store.exists(title, "subtitle_template.json"):
                for tr in store.read_json(title, "subtitle_template.json")["tracks"]:
                    print(f"title {title} track {tr['track']} ({tr['language']}): {tr['events']} events, "
                          f"conformance {tr['conformance_rate']:.3f}, {tr['fixed']} fixed, "
                          f"{tr['violations_left']} left")


if __name__ == "__main__":
    main()
