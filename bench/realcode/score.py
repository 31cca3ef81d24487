#!/usr/bin/env python3
"""Scores a lint run of the real-code corpus against the hand-reviewed labels.

usage: score.py FINDINGS_DIR [REALCODE_DIR]

Reads FINDINGS_DIR/NAME.json (from lint.sh), labels.tsv and misses.tsv beside this script, and
prints, per rule: findings, true and false positives by the labels, findings nobody has reviewed
yet (listed so they can be labelled), and which known misses the run now finds. Precision is
over reviewed findings; "outside tests" leaves out files the labels mark as tests.
"""
import csv
import json
import os
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))


def read_tsv(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def main():
    findings_dir = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else "/work/realcode"
    labels = {(r["repo"], r["file"], int(r["line"]), r["code"]): r for r in read_tsv("labels.tsv")}
    misses = read_tsv("misses.tsv")
    found = set()
    per_rule = defaultdict(lambda: {"n": 0, "tp": 0, "fp": 0, "tp_src": 0, "fp_src": 0, "new": 0})
    unlabelled = []
    for name in sorted(os.listdir(findings_dir)):
        if not name.endswith(".json"):
            continue
        repo = name[:-5]
        with open(os.path.join(findings_dir, name)) as f:
            items = json.load(f)
        for item in items:
            rel = os.path.relpath(item["filename"], os.path.join(root, repo))
            key = (repo, rel, item["location"]["row"], item["code"])
            found.add(key)
            stats = per_rule[item["code"]]
            stats["n"] += 1
            label = labels.get(key)
            if label is None:
                stats["new"] += 1
                unlabelled.append((key, item["message"]))
                continue
            verdict = label["verdict"].strip().upper()
            test = label.get("test", "no").strip().lower() == "yes"
            if verdict == "TP":
                stats["tp"] += 1
                stats["tp_src"] += 0 if test else 1
            else:
                stats["fp"] += 1
                stats["fp_src"] += 0 if test else 1
    print(f"{'rule':<8}{'found':>7}{'TP':>5}{'FP':>5}{'new':>5}{'precision':>11}{'TP src':>8}{'FP src':>8}")
    total = {"n": 0, "tp": 0, "fp": 0, "tp_src": 0, "fp_src": 0, "new": 0}
    for code in sorted(per_rule):
        s = per_rule[code]
        for k in total:
            total[k] += s[k]
        reviewed = s["tp"] + s["fp"]
        prec = f"{s['tp'] / reviewed:.2f}" if reviewed else "-"
        print(f"{code:<8}{s['n']:>7}{s['tp']:>5}{s['fp']:>5}{s['new']:>5}{prec:>11}{s['tp_src']:>8}{s['fp_src']:>8}")
    reviewed = total["tp"] + total["fp"]
    prec = f"{total['tp'] / reviewed:.2f}" if reviewed else "-"
    print(f"{'all':<8}{total['n']:>7}{total['tp']:>5}{total['fp']:>5}{total['new']:>5}{prec:>11}"
          f"{total['tp_src']:>8}{total['fp_src']:>8}")
    linted = {n[:-5] for n in os.listdir(findings_dir) if n.endswith(".json")}
    lost = [k for k, r in labels.items() if r["verdict"].strip().upper() == "TP" and k[0] in linted and k not in found]
    print(f"\nlabelled true findings no longer reported: {len(lost)}")
    for k in lost:
        print("  lost", *k)
    misses = [m for m in misses if m["repo"] in linted]
    hit = [m for m in misses if (m["repo"], m["file"], int(m["line"]), m["code"]) in found]
    print(f"known misses now found: {len(hit)} of {len(misses)}")
    for m in hit:
        print("  found", m["repo"], m["file"], m["line"], m["code"])
    if unlabelled:
        print(f"\nnot yet reviewed: {len(unlabelled)}")
        for key, message in unlabelled:
            print("  new", *key, "|", message[:110])


if __name__ == "__main__":
    main()
