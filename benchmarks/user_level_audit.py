"""User-level audit of a character transformer on Tiny Shakespeare (issue 13; Song &
Shmatikov 2019): audit AUC against the number of texts per user in the rank histograms.

Users are speakers with at least ``--texts`` speaker turns; each keeps a seeded choice of
exactly ``--texts`` turns (so every user is the same size). Users are split (seeded) into
target members, target non-members, reference users (``--reference``: known non-members of the
target, never in any training) and the attacker's shadow users; the target trains on the
members' texts; shadow LMs of the same recipe train on ``--members`` shadow users each.

Beside the Song & Shmatikov classifier (AUC, and its per-user empirical p-values against the
reference users' scores, and against the cross-fitted shadow-out null), the data owner's
test of part 1 on the same users: each audited user's first k texts' ``lm_loss`` scores
(negated mean token loss under the target, uncalibrated) against every text of the
reference users (one-sided Mann-Whitney, :func:`miaudit.owner.owner_test`), one p-value per
user; its AUC over users (score -log p) and its rejection rates at alpha for member users
(power) and non-member users (size, with a 95% Clopper-Pearson interval). Also ("user-mean")
the same scores tested at the user level: the user's mean score over k texts against each
reference user's mean (empirical p, as the classifier's), exchangeable user by user.

    MIAUDIT_DATA=/work/shared/datasets python benchmarks/user_level_audit.py
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def run(a: argparse.Namespace, seed: int) -> list[dict]:
    from miaudit.metrics import evaluate_scores
    from miaudit.owner import owner_test
    from miaudit.pipeline.user_audit import UserLevelAudit, empirical_p_values
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
    b = a.members + a.nonmembers
    refs = order[b : b + a.reference]
    shadow = order[b + a.reference :]
    chars = sum(len(t) for t in records.texts)
    print(
        f"seed {seed}: {len(names)} users with >= {a.texts} turns, {len(records)} records, "
        f"{chars} chars; "
        f"{len(members)} members, {len(nonmembers)} non-members, {len(refs)} reference, "
        f"{len(shadow)} shadow users"
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
    # part 1's per-record scores: lm_loss (negated mean token log-loss) under the target
    order_of = user_records(records, users + refs, seed=seed)
    flat = np.concatenate(order_of)
    ans = target.answers([records.texts[i] for i in flat])
    per_text = (ans.logp * ans.mask).sum(1) / ans.mask.sum(1)
    starts = np.r_[0, np.cumsum([g.size for g in order_of])[:-1]]
    user_scores = [per_text[s : s + g.size] for s, g in zip(starts, order_of, strict=True)]
    ref_scores = np.concatenate(user_scores[len(users) :])
    rows = []
    print(
        "| k | S&S AUC [95% CI] | S&S power / size (ref. users) | S&S power / size "
        "(shadow out) | part-1 AUC [95% CI] | part-1 power / size | user-mean power / size | "
        "shadow acc. |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k in (int(x) for x in a.ks.split(",")):
        r = audit.audit(
            target,
            users,
            membership=truth,
            texts_per_user=k,
            bootstrap=a.bootstrap,
            reference_users=refs,
            alpha=a.alpha,
        )
        r_out = audit.audit(target, users, texts_per_user=k, bootstrap=0, alpha=a.alpha)
        p1 = np.array(
            [
                owner_test(u[:k], ref_scores, alpha=a.alpha, seed=seed).p_value
                for u in user_scores[: len(users)]
            ]
        )
        m1 = evaluate_scores(truth, -np.log(p1), n_resamples=a.bootstrap, seed=seed)
        # the same lm_loss scores with user-level exchangeability: the user's mean score over
        # k texts against each reference user's mean over their first k texts
        means = np.array([u[:k].mean() for u in user_scores])
        pu = empirical_p_values(means[: len(users)], means[len(users) :])
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
            "n_members": int(truth.sum()),
            "n_nonmembers": int((~truth).sum()),
            "ss_reject_member": int(r.reject[truth].sum()),
            "ss_reject_nonmember": int(r.reject[~truth].sum()),
            "ss_out_reject_member": int(r_out.reject[truth].sum()),
            "ss_out_reject_nonmember": int(r_out.reject[~truth].sum()),
            "ss_n_null": int(r.null_scores.size),
            "ss_out_n_null": int(r_out.null_scores.size),
            "p1_auc": m1.auc,
            "p1_auc_ci": list(m1.auc_ci),
            "p1_reject_member": int((p1[truth] <= a.alpha).sum()),
            "p1_reject_nonmember": int((p1[~truth] <= a.alpha).sum()),
            "p1_n_reference_texts": int(ref_scores.size),
            "pu_reject_member": int((pu[truth] <= a.alpha).sum()),
            "pu_reject_nonmember": int((pu[~truth] <= a.alpha).sum()),
        }
        rows.append(row)
        nm, nn = row["n_members"], row["n_nonmembers"]
        print(
            f"| {k} | {m.auc:.3f} [{m.auc_ci[0]:.3f}, {m.auc_ci[1]:.3f}] | "
            f"{row['ss_reject_member']}/{nm} / {row['ss_reject_nonmember']}/{nn} | "
            f"{row['ss_out_reject_member']}/{nm} / {row['ss_out_reject_nonmember']}/{nn} | "
            f"{m1.auc:.3f} [{m1.auc_ci[0]:.3f}, {m1.auc_ci[1]:.3f}] | "
            f"{row['p1_reject_member']}/{nm} / {row['p1_reject_nonmember']}/{nn} | "
            f"{row['pu_reject_member']}/{nm} / {row['pu_reject_nonmember']}/{nn} | "
            f"{r.shadow_accuracy:.3f} |",
            flush=True,
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=int, default=16, help="texts kept per user")
    p.add_argument("--members", type=int, default=25, help="member users (and per shadow LM)")
    p.add_argument("--nonmembers", type=int, default=25)
    p.add_argument(
        "--reference", type=int, default=20, help="reference users: known non-members, no LM"
    )
    p.add_argument("--alpha", type=float, default=0.05)
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
    from scipy import stats

    def rate(key: str, n_key: str, i: int) -> str:
        x, n = sum(r[i][key] for r in runs), sum(r[i][n_key] for r in runs)
        lo, hi = stats.binomtest(x, n).proportion_ci(0.95, method="exact")
        return f"{x}/{n} = {x / n:.2f} [{lo:.2f}, {hi:.2f}]"

    def tail(key: str, i: int) -> str:
        """P(pooled non-member rejections >= observed | H0) for an empirical p-value whose
        n_a audited non-members share one draw of n_r reference users per seed (their
        rejections are dependent), by simulation of exchangeable continuous scores."""
        n_a, n_r = runs[0][i]["n_nonmembers"], runs[0][i]["ss_n_null"]
        c = int(np.floor(a.alpha * (1 + n_r) + 1e-12)) - 1  # reject iff #{null >= s} <= c
        if c < 0:
            return "-"
        z = np.random.default_rng(0x7A1).random((20000, len(runs), n_a + n_r))
        thr = np.sort(z[..., n_a:], axis=-1)[..., -(c + 1)]
        total = (z[..., :n_a] > thr[..., None]).sum((-1, -2))
        return f"{np.mean(total >= sum(r[i][key] for r in runs)):.3f}"

    print(
        "| k | S&S mean AUC | S&S power (ref.) | S&S size (ref.) | P(>= count) | S&S size "
        "(shadow out) | part-1 mean AUC | part-1 power | part-1 size | user-mean power | "
        "user-mean size | P(>= count) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, row in enumerate(runs[0]):
        print(
            f"| {row['k']} | {np.mean([r[i]['auc'] for r in runs]):.3f} | "
            f"{rate('ss_reject_member', 'n_members', i)} | "
            f"{rate('ss_reject_nonmember', 'n_nonmembers', i)} | "
            f"{tail('ss_reject_nonmember', i)} | "
            f"{rate('ss_out_reject_nonmember', 'n_nonmembers', i)} | "
            f"{np.mean([r[i]['p1_auc'] for r in runs]):.3f} | "
            f"{rate('p1_reject_member', 'n_members', i)} | "
            f"{rate('p1_reject_nonmember', 'n_nonmembers', i)} | "
            f"{rate('pu_reject_member', 'n_members', i)} | "
            f"{rate('pu_reject_nonmember', 'n_nonmembers', i)} | "
            f"{tail('pu_reject_nonmember', i)} |"
        )
    total = time.perf_counter() - t0
    print(f"total {total:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "runs": runs, "seconds": total}, f, indent=1)


if __name__ == "__main__":
    main()
