#!/usr/bin/python3
"""Build a multiple-choice continuation ("cloze") task from held-out text, in moqa's generic
multiple_choice JSON Lines format (docs/EVALUATION.md):

    {"context": "...", "choices": ["...", ...], "gold": i, "target_delimiter": "", "id": "..."}

Each example takes a passage of consecutive units (lines or sentences) of the text as the context and asks
for the unit that really follows it; the distractors are units drawn from far away in the same text
(optionally some from other texts), of similar length so that length alone gives little away. A model
that uses its context scores above chance (1 / choices); one that does not sits at chance. Everything is
decided by --seed, so the same arguments always give the same file.

Example (the tasks in experiments/data were made this way, see experiments/data/README.md):

    scripts/make_cloze_task.py --text ../shared/assets/trained/corpus_xz/wiki.test.txt.xz --unit sentence \\
        --examples 150 --seed 1 --out experiments/data/cloze_wiki.jsonl

Standard library only.
"""
import argparse
import json
import lzma
import os
import random
import re
import sys
import zlib


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data.startswith(b"\xfd7zXZ\x00"):
            data = lzma.decompress(data)
        return data.decode("utf-8")
    except OSError as e:
        sys.exit(f"make_cloze_task: cannot read {path}: {e.strerror or e}")
    except lzma.LZMAError as e:
        sys.exit(f"make_cloze_task: {path}: corrupt .xz data: {e}")
    except UnicodeDecodeError as e:
        sys.exit(f"make_cloze_task: {path}: not UTF-8 text (byte offset {e.start}): {e.reason}")


# A unit is (text, separator): the separator is what follows the unit in the original text, so a passage
# is rebuilt exactly by concatenating text + separator.
def split_lines(text):
    return [(line, "\n") for line in text.split("\n")]


# WikiText is tokenized with spaces around punctuation: a sentence ends with " ." (or " !", " ?") followed
# by a space. Headings (" = Title = ") and paragraph breaks stay units of their own.
SENTENCE_END = re.compile(r"(?<= [.!?]) ")


def split_sentences(text):
    units = []
    for line in text.split("\n"):
        parts = SENTENCE_END.split(line)
        for i, part in enumerate(parts):
            units.append((part, " " if i + 1 < len(parts) else "\n"))
    return units


def usable(unit, min_chars, max_chars):
    body = unit.strip()
    return min_chars <= len(body) <= max_chars and not (body.startswith("=") and body.endswith("="))


def build_examples(units, others, args, rng, label):
    n = len(units)
    candidates = [i for i in range(n) if usable(units[i][0], args.min_chars, args.max_chars)]
    rng.shuffle(candidates)
    examples, used_targets = [], set()
    for target in candidates:
        if len(examples) == args.examples:
            break
        # Whole units before the target, back to at least context_chars characters.
        start, chars = target, 0
        while start > 0 and chars < args.context_chars:
            start -= 1
            chars += len(units[start][0]) + len(units[start][1])
        if chars < args.context_chars // 2 or target in used_targets:
            continue
        context = "".join(text + sep for text, sep in units[start:target])
        gold = units[target][0]
        # Distractors: similar length, far from the passage, distinct from the gold and each other.
        low, high = len(gold) / args.length_ratio, len(gold) * args.length_ratio
        seen = {gold.strip()}
        distractors = []
        for _ in range(2000):
            if len(distractors) == args.choices - 1:
                break
            if others and rng.random() < args.other_fraction:
                text = others[rng.randrange(len(others))]
            else:
                j = candidates[rng.randrange(len(candidates))]
                if abs(j - target) <= args.min_distance:
                    continue
                text = units[j][0]
            if not (low <= len(text) <= high) or text.strip() in seen:
                continue
            seen.add(text.strip())
            distractors.append(text)
        if len(distractors) < args.choices - 1:
            continue
        gold_index = rng.randrange(args.choices)
        choices = distractors[:gold_index] + [gold] + distractors[gold_index:]
        used_targets.add(target)
        examples.append({"context": context, "choices": choices, "gold": gold_index, "target_delimiter": "",
                         "id": f"{label}:unit{target}"})
    if len(examples) < args.examples:
        sys.exit(f"make_cloze_task: only {len(examples)} usable examples in {label}, {args.examples} requested")
    return examples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", required=True, help="held-out text (plain or .xz)")
    parser.add_argument("--unit", choices=["line", "sentence"], default="line",
                        help="what a choice is: a line, or a sentence of WikiText-style text")
    parser.add_argument("--other-text", action="append", default=[],
                        help="another text to draw some distractors from (repeatable)")
    parser.add_argument("--other-fraction", type=float, default=0.0,
                        help="probability that a distractor comes from --other-text")
    parser.add_argument("--examples", type=int, default=150, help="examples to write (default: %(default)s)")
    parser.add_argument("--choices", type=int, default=4,
                        help="choices per example, the gold one included (default: %(default)s; chance = 1/choices)")
    parser.add_argument("--context-chars", type=int, default=400, help="context length, whole units, at least (default: %(default)s)")
    parser.add_argument("--min-chars", type=int, default=20, help="shortest answer (stripped) (default: %(default)s)")
    parser.add_argument("--max-chars", type=int, default=200, help="longest answer (stripped) (default: %(default)s)")
    parser.add_argument("--length-ratio", type=float, default=1.5, help="distractor length within gold x/÷ this (default: %(default)s)")
    parser.add_argument("--min-distance", type=int, default=50, help="units between a distractor and its target (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="decides every random choice: the same arguments give the same file (default: %(default)s)")
    parser.add_argument("--out", required=True, help="the JSON Lines file to write (replaced atomically)")
    args = parser.parse_args()
    if args.choices < 2 or args.examples < 1:
        parser.error("need --choices >= 2 and --examples >= 1")

    split = split_sentences if args.unit == "sentence" else split_lines
    units = split(read_text(args.text))
    others = []
    for path in args.other_text:
        others += [t for t, _ in split(read_text(path)) if usable(t, args.min_chars, args.max_chars)]
    label = os.path.basename(args.text)
    # The seed is mixed with the text's name so that one seed gives independent draws per text.
    rng = random.Random(args.seed * 1000003 + zlib.crc32(label.encode()))
    examples = build_examples(units, others, args, rng, label)

    tmp = f"{args.out}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for e in examples:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")
        os.replace(tmp, args.out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        sys.exit(f"make_cloze_task: cannot write {args.out}: {e.strerror or e}")
    print(f"{args.out}: {len(examples)} examples, {args.choices} choices, from {args.text}")


if __name__ == "__main__":
    main()
