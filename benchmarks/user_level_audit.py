"""User-level audit of a character transformer on Tiny Shakespeare (issue 13; Song &
Shmatikov 2019): audit AUC against the number of texts per user in the rank histograms.

Users are speakers with at least ``--texts`` speaker turns; each keeps a seeded choice of
exactly ``--texts`` turns (so every user is the same size). Users are split (seeded) into
target members, target non-members and the attacker's shadow users; the target trains on
the members' texts; shadow LMs of the same recipe train on ``--members`` shadow users each.

    MIAUDIT_DATA=/work/shared/datasets python benchmarks/user_level_audit.py
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def run(a: argparse.Namespace, seed: int) -> list[dict]:
    from miaudit.pipeline.user_audit import UserLevelAudit
    from miaudit.text import (
        LMRecipe,
        LMSpec,
        TextRecords,
        build_tokenizer,
        load_corpus,
        train_target_lm,
    )
    from miaudit.text.ranks import user_records

    corpus = load_corpus("tiny_shakespeare", unit="block")
    counts: dict[str, int] = {}
    for u in corpus.users:
        counts[u] = counts.get(u, 0) + 1
    names = sorted(u for u, c in counts.items() if c >= a.texts and u)
    keep = np.sort(np.concatenate(user_records(corpus, names, texts_per_user=a.texts, seed=seed)))
    records = corpus[keep]
    if not a.keep_names:
        assert records.users is not None
        records = TextRecords(
            tuple(t.split("\n", 1)[1] if "\n" in t else t for t in records.texts),
            records.users,
            records.name,
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x13]))
    order = [names[i] for i in rng.permutation(len(names))]
    members = order[: a.members]
    nonmembers = order[a.members : a.members + a.nonmembers]
    shadow = order[a.members + a.nonmembers :]
    chars = sum(len(t) for t in records.texts)
    print(
        f"seed {seed}: {len(names)} users with >= {a.texts} turns, {len(records)} records, "
        f"{chars} chars; "
        f"{len(members)} members, {len(nonmembers)} non-members, {len(shadow)} shadow users"
    )
    tok = build_tokenizer("char", records.texts)
    spec = LMSpec(
        model="transformer_lm",
        layers=a.layers,
        d_model=a.d_model,
        heads=4,
        context=128,
        epochs=a.epochs,
        batch_size=32,
        lr=2e-3,
    )
    member_set = set(members)
    member_texts = [t for t, u in zip(records.texts, records.users, strict=True) if u in member_set]
    start = time.perf_counter()
    target, loss = train_target_lm(member_texts, tok, spec, seed=seed)
    t_target = time.perf_counter() - start
    print(f"target: {len(member_texts)} texts, training loss {loss:.3f}, {t_target:.0f} s")

    start = time.perf_counter()
    audit = UserLevelAudit(
        LMRecipe(spec, tok.to_json()),
        num_shadow=a.shadow,
        shadow_members=a.members,
        classifier=a.classifier,
        seed=seed,
    ).fit(records, shadow)
    t_shadow = time.perf_counter() - start
    print(f"{a.shadow} shadow LMs: {t_shadow:.0f} s", flush=True)

    users = members + nonmembers
    truth = np.r_[np.ones(len(members), bool), np.zeros(len(nonmembers), bool)]
    rows = []
    print("| texts per user | AUC [95% CI] | TPR@1% [95% CI] | TPR@10% | shadow acc. |")
    print("|---|---|---|---|---|")
    for k in (int(x) for x in a.ks.split(",")):
        r = audit.audit(target, users, membership=truth, texts_per_user=k, bootstrap=a.bootstrap)
        m = r.metrics
        tpr = {float(x): v for x, v in m.tpr_at_fpr.items()}
        ci = {float(x): v for x, v in m.tpr_at_fpr_ci.items()}
        row = {
            "k": k,
            "auc": m.auc,
            "auc_ci": list(m.auc_ci),
            "tpr1": tpr[0.01],
            "tpr1_ci": list(ci[0.01]),
            "tpr10": tpr[0.1],
            "shadow_accuracy": r.shadow_accuracy,
            "member_top1": float(r.features[truth, 0].mean()),
            "nonmember_top1": float(r.features[~truth, 0].mean()),
        }
        rows.append(row)
        print(
            f"| {k} | {m.auc:.3f} [{m.auc_ci[0]:.3f}, {m.auc_ci[1]:.3f}] | {tpr[0.01]:.3f} "
            f"[{ci[0.01][0]:.3f}, {ci[0.01][1]:.3f}] | {tpr[0.1]:.3f} | "
            f"{r.shadow_accuracy:.3f} |",
            flush=True,
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=int, default=16, help="texts kept per user")
    p.add_argument("--members", type=int, default=25, help="member users (and per shadow LM)")
    p.add_argument("--nonmembers", type=int, default=25)
    p.add_argument("--shadow", type=int, default=4, help="shadow LMs")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--classifier", default="logistic")
    p.add_argument("--ks", default="1,2,4,8,16")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seeds", default="0", help="comma-separated; one user split per seed")
    p.add_argument(
        "--keep-names",
        action="store_true",
        help="keep each turn's 'NAME:' line (by default it is cut: it names the user)",
    )
    p.add_argument("--json", default=None, help="write the table as JSON here")
    a = p.parse_args()

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    runs = [run(a, int(seed)) for seed in a.seeds.split(",")]
    if len(runs) > 1:
        print("| texts per user | mean AUC over seeds | per seed | mean TPR@1% |")
        print("|---|---|---|---|")
        for i, row in enumerate(runs[0]):
            aucs = [r[i]["auc"] for r in runs]
            tprs = [r[i]["tpr1"] for r in runs]
            each = ", ".join(f"{x:.3f}" for x in aucs)
            print(f"| {row['k']} | {np.mean(aucs):.3f} | {each} | {np.mean(tprs):.3f} |")
    total = time.perf_counter() - t0
    print(f"total {total:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "runs": runs, "seconds": total}, f, indent=1)


if __name__ == "__main__":
    main()
