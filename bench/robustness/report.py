"""bench/results/robustness.md and its PNG plots, from one run's results.

The tables are what a hotline decides thresholds with: recall per edit (fused and per family,
at the defaults), the targets' pass/fail lines, the distinct-pair distance distributions, the
recall/false-match trade-off as each Hamming threshold varies, and the expected accidental
matches per lookup against 1M and 10M entries.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.robustness.edits import EDITS, GROUPS, TARGETS
from bench.robustness.evaluate import (
    EditResult,
    FamilyDistances,
    binom_cdf_half,
    normal_tail,
    per_lookup,
)

BANK_SIZES = (1_000_000, 10_000_000)
SCAN = {"pdq": range(20, 41, 2), "phash": range(4, 11)}
FAMILIES = ("md5", "pdq", "phash")


def recall_rows(
    results: Sequence[EditResult], entry_ids: Sequence[int], families: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], Counter[str]]:
    """Per edit name: n, fused hits, per-family hits, false-match count."""
    rows: dict[str, dict[str, Any]] = {}
    false_by_family: Counter[str] = Counter()
    for r in results:
        row = rows.setdefault(r.edit, {"n": 0, "fused": 0, "false": 0, **{f: 0 for f in families}})
        own = entry_ids[r.original]
        row["n"] += 1
        if own in r.matches:
            row["fused"] += 1
            for family in r.matches[own]:
                if family in row:
                    row[family] += 1
        for entry, hits in r.matches.items():
            if entry != own:
                row["false"] += 1
                false_by_family.update(hits)
    return rows, false_by_family


def _pct(k: int, n: int) -> str:
    return f"{k / n:.3f}" if n else "-"


def image_section(
    results: Sequence[EditResult], entry_ids: Sequence[int]
) -> tuple[list[str], dict[str, dict[str, Any]], Counter[str]]:
    rows, false_by_family = recall_rows(results, entry_ids, FAMILIES)
    group_of = {e.name: e.group for e in EDITS}
    lines = [
        "| edit | group | n | **fused** | md5 | pdq | phash | false matches |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for edit in EDITS:
        row = rows.get(edit.name)
        if not row:
            continue
        n = row["n"]
        lines.append(
            f"| {edit.name} | {edit.group} | {n} | **{_pct(row['fused'], n)}** | "
            + " | ".join(_pct(row[f], n) for f in FAMILIES)
            + f" | {row['false']} |"
        )
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: Counter())
    for name, row in rows.items():
        g = groups[group_of[name]]
        for k, v in row.items():
            g[k] += v
    return lines, dict(groups), false_by_family


def target_lines(
    groups: dict[str, dict[str, Any]], false_total: int, accidental: dict[str, float]
) -> list[str]:
    lines = []
    for group, target in TARGETS.items():
        g = groups.get(group)
        if not g:
            continue
        value = g["fused"] / g["n"]
        verdict = "PASS" if value >= target else "FAIL"
        lines.append(
            f"- {verdict}: fused recall on {GROUPS[group]} = {value:.3f} (target >= {target})"
        )
    verdict = "PASS" if false_total == 0 else "FAIL"
    lines.append(
        f"- {verdict}: false matches among the distinct pictures (all lookups) = {false_total} "
        "(target 0)"
    )
    for label, value in accidental.items():
        verdict = "PASS" if value < 1e-4 else "FAIL"
        lines.append(
            f"- {verdict}: accidental matches per lookup against 10M, {label} = {value:.2e} "
            "(target < 1e-4)"
        )
    return lines


def accidental_rows(fd: FamilyDistances, threshold: int) -> tuple[list[str], dict[str, float]]:
    """Expected accidental matches per lookup for each threshold of the scan (and the default)."""
    tries = fd.query_variants * fd.stored_variants
    pairs_distinct = int(fd.distinct_hist.sum())
    pairs_edits = int(fd.impostor_hist.sum())
    cum_d = np.cumsum(fd.distinct_hist)
    cum_e = np.cumsum(fd.impostor_hist)
    thresholds = sorted(set(SCAN[fd.family]) | {threshold})
    lines = [
        f"Per lookup: {fd.query_variants:.1f} query value(s) x {fd.stored_variants:.2f} stored "
        f"value(s) per entry = {tries:.1f} comparisons per entry. Empirical rates are per "
        f"(lookup, unrelated entry) pair, min over those comparisons: {pairs_distinct:,} ordered "
        f"pairs of distinct originals (resolution {1 / max(pairs_distinct, 1):.1e}) and "
        f"{pairs_edits:,} pairs (edited copy, unrelated original) (resolution "
        f"{1 / max(pairs_edits, 1):.1e}); '<' marks zero counts (the bound is one pair). The "
        "normal fit models the plain-vs-plain distances of distinct originals and assumes the "
        "comparisons independent (optimistic where variants are correlated).",
        "",
        "| threshold | uniform codes @1M | uniform @10M | distinct originals @1M | @10M | "
        "edits vs unrelated @1M | @10M | normal fit @10M |",
        "|---|---|---|---|---|---|---|---|",
    ]
    headline: dict[str, float] = {}
    for t in thresholds:
        uniform = per_lookup(binom_cdf_half(fd.bits, t), tries)
        k_d = int(cum_d[min(t, fd.bits)])
        k_e = int(cum_e[min(t, fd.bits)])
        rate_d = k_d / pairs_distinct if pairs_distinct else float("nan")
        rate_e = k_e / pairs_edits if pairs_edits else float("nan")
        fit = per_lookup(normal_tail(fd.plain_distinct, t), tries)

        def emp(rate: float, k: int, pairs: int, n: int) -> str:
            if k == 0:
                return f"< {n / max(pairs, 1):.1e}"
            return f"{n * rate:.2e}"

        mark = " (default)" if t == threshold else ""
        lines.append(
            f"| {t}{mark} | {1e6 * uniform:.2e} | {1e7 * uniform:.2e} | "
            f"{emp(rate_d, k_d, pairs_distinct, 1_000_000)} | "
            f"{emp(rate_d, k_d, pairs_distinct, 10_000_000)} | "
            f"{emp(rate_e, k_e, pairs_edits, 1_000_000)} | "
            f"{emp(rate_e, k_e, pairs_edits, 10_000_000)} | "
            f"{1e7 * fit:.2e} |"
        )
        if t == threshold:
            headline[f"{fd.family} uniform codes"] = 1e7 * uniform
            headline[
                f"{fd.family} corpus distances (normal fit; the empirical count is "
                f"{k_d} of {pairs_distinct:,} pairs)"
            ] = 1e7 * fit
    return lines, headline


def recall_curve(
    fd: FamilyDistances, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = np.arange(fd.bits + 1)
    genuine = fd.genuine[mask]
    recall = np.array([(genuine <= t).mean() if len(genuine) else np.nan for t in ts])
    fmr = np.cumsum(fd.impostor_hist) / max(int(fd.impostor_hist.sum()), 1)
    return ts, recall, fmr


def plots(
    out: Path,
    suffix: str,
    distances: dict[str, FamilyDistances],
    results: Sequence[EditResult],
    thresholds: dict[str, int],
) -> list[str]:
    """CDF of distinct-pair distances and recall-vs-false-match-rate curves; returns file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    group_of = {e.name: e.group for e in EDITS}
    groups = np.array([group_of[r.edit] for r in results])
    fig, axes = plt.subplots(1, len(distances), figsize=(6 * len(distances), 4.2))
    for ax, fd in zip(np.atleast_1d(axes), distances.values(), strict=True):
        ts = np.arange(fd.bits + 1)
        for hist, label in (
            (fd.distinct_hist, "distinct originals (min over variants)"),
            (fd.impostor_hist, "edited copies vs unrelated originals"),
        ):
            total = max(int(hist.sum()), 1)
            ax.plot(ts, np.cumsum(hist) / total, label=label)
        plain = np.bincount(fd.plain_distinct, minlength=fd.bits + 1)
        ax.plot(
            ts, np.cumsum(plain) / max(plain.sum(), 1), label="distinct originals, plain hashes"
        )
        from math import comb

        uniform = np.cumsum([comb(fd.bits, k) for k in ts]) / 2**fd.bits
        ax.plot(ts, uniform, "k:", label="uniform random codes")
        ax.axvline(
            thresholds[fd.family], color="red", ls="--", label=f"default {thresholds[fd.family]}"
        )
        ax.set_yscale("log")
        ax.set_ylim(1e-8, 1.05)
        ax.set_xlim(0, fd.bits * 0.6)
        ax.set_title(f"{fd.family}: CDF of distances between different pictures")
        ax.set_xlabel("Hamming distance")
        ax.set_ylabel("fraction of pairs <= distance")
        ax.legend(fontsize=7)
    fig.tight_layout()
    name = f"robustness-distinct-cdf{suffix}.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    names.append(name)

    fig, axes = plt.subplots(1, len(distances), figsize=(6 * len(distances), 4.2))
    for ax, fd in zip(np.atleast_1d(axes), distances.values(), strict=True):
        for group in ("survive", "border", "crop5", "other"):
            mask = groups == group
            if not mask.any():
                continue
            ts, recall, fmr = recall_curve(fd, mask)
            ax.plot(np.maximum(fmr, 1e-9), recall, label=group)
            t = thresholds[fd.family]
            ax.plot(max(fmr[t], 1e-9), recall[t], "o", color="red")
        ax.set_xscale("log")
        ax.set_xlim(1e-8, 1)
        ax.set_title(
            f"{fd.family}: recall vs false-match rate (red dot: default {thresholds[fd.family]})"
        )
        ax.set_xlabel("false-match rate per (copy, unrelated entry) pair; 1e-9 = none seen")
        ax.set_ylabel("recall")
        ax.legend(fontsize=8)
    fig.tight_layout()
    name = f"robustness-recall-fmr{suffix}.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    names.append(name)
    return names


def video_section(
    results: Sequence[EditResult], entry_ids: Sequence[int], names: Sequence[str]
) -> tuple[list[str], int]:
    rows, _ = recall_rows(results, entry_ids, ("md5", "tmk_pdqf"))
    lines = [
        "| edit | n | **fused** | md5 | tmk_pdqf | false matches |",
        "|---|---|---|---|---|---|",
    ]
    false_total = 0
    for edit, row in rows.items():
        n = row["n"]
        false_total += row["false"]
        lines.append(
            f"| {edit} | {n} | **{_pct(row['fused'], n)}** | {_pct(row['md5'], n)} | "
            f"{_pct(row['tmk_pdqf'], n)} | {row['false']} |"
        )
    lines.append("")
    lines.append("Originals: " + ", ".join(f"`{name}`" for name in names))
    return lines, false_total
