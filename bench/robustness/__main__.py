"""``python -m bench.robustness``: fetch the corpus, bank it, look up every edit, write the report.

Environment: ``ROBUSTNESS_IMAGES=N`` (quick mode: an evenly spread N originals, always the same
ones for the same corpus: :func:`corpus.sample_limited`), ``ROBUSTNESS_VIDEO_CLIPS`` (clips made
from photographs, default 2; ``ROBUSTNESS_VIDEO=0`` skips video), ``ROBUSTNESS_WORKERS``
(default: the CPUs, at most 2 per the issue's machine), ``ROBUSTNESS_CORPUS`` (cache folder,
default bench/.corpus).

``--revision REV`` measures another revision's engine with this benchmark: ``git archive REV``
is unpacked to a temporary folder, this tree's ``bench/robustness`` is copied into it, and the
command re-runs itself there with that folder (its root, ``server/`` and each plugin) on
``PYTHONPATH``, ahead of the venv's editable installs. Every worker checks that ``hashcore`` and
each loaded plugin module come from that folder before it looks anything up (the run stops
otherwise) and the report lists where they came from.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.robustness import corpus as corpus_mod
from bench.robustness import evaluate, report, video
from bench.robustness.edits import EDITS, GROUPS
from hashcore.registry import load_registry

SPIN_LOOPS = 50_000_000
QUIET_SPIN_SECONDS = 2.5
"""The spin loop's wall time on an idle core of the 2-core dev VM (see bench/README.md)."""


def spin() -> tuple[float, float]:
    """(wall, CPU) seconds of a fixed pure-Python loop: a load figure to print beside the times.

    On an idle core wall == CPU == :data:`QUIET_SPIN_SECONDS`; wall / CPU is how much of a core
    this process got, CPU / quiet how much slower the core itself ran (shared caches,
    hyper-threads).
    """
    wall, cpu = time.monotonic(), time.process_time()
    total = 0
    for i in range(SPIN_LOOPS):
        total += i
    return time.monotonic() - wall, time.process_time() - cpu


def run_revision(args: argparse.Namespace) -> int:
    """Re-run this command with the engine of ``args.revision`` (see the module docstring)."""
    from bench.compare_revisions import tree_of  # the revision unpacked once, as there

    repo = Path(__file__).resolve().parents[2]
    dest = tree_of(args.revision)
    rev = dest.name.removeprefix("hashcore-rev-")
    # What is measured stays this tree's benchmark; only the engine comes from the revision.
    shutil.rmtree(dest / "bench" / "robustness", ignore_errors=True)
    shutil.copytree(
        repo / "bench" / "robustness",
        dest / "bench" / "robustness",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    roots = [
        dest,
        dest / "server",
        *sorted(p.parent for p in (dest / "plugins").glob("*/pyproject.toml")),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(r) for r in roots)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[evaluate.EXPECT_ROOT] = str(dest)
    env["HASHCORE_BENCH_REVISION"] = rev
    env["ROBUSTNESS_CORPUS"] = str(
        Path(os.environ.get("ROBUSTNESS_CORPUS", repo / "bench/.corpus")).resolve()
    )
    command = [sys.executable, "-m", "bench.robustness", "--name", args.name]
    command += ["--out", str(args.out.resolve())]
    print(f"revision {rev}: engine from {dest}; PYTHONPATH={env['PYTHONPATH']}", flush=True)
    # cwd = the unpacked tree: ``python -m`` puts the cwd first on sys.path, so the working
    # tree's hashcore must not be the cwd.
    return subprocess.run(command, cwd=dest, env=env).returncode


def code_description(modules: dict[str, str]) -> str:
    """Which engine code was measured: a revision, or the working tree with its state."""
    roots = sorted({str(Path(f).resolve().parent) for f in modules.values() if f})
    digest = hashlib.sha256()
    for folder in sorted({Path(f).resolve().parent for f in modules.values() if f}):
        for source in sorted(folder.rglob("*.py")):
            digest.update(source.read_bytes())
    fingerprint = digest.hexdigest()[:12]
    rev = os.environ.get("HASHCORE_BENCH_REVISION")
    if rev:
        return (
            f"hashcore at revision `{rev}` (`git archive`, run with `--revision {rev}`), imported "
            f"from `{Path(modules['hashcore']).resolve().parent.parent}` in the parent and in "
            f"every worker (checked); source fingerprint {fingerprint}"
        )
    repo = Path(modules["hashcore"]).resolve().parent.parent
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=repo,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return (
        f"hashcore working tree `{repo}` at HEAD `{head or '?'}`"
        + (f" with {len(dirty)} modified tracked files" if dirty else "")
        + f"; source fingerprint {fingerprint} (SHA-256 of the imported packages' .py files, "
        f"taken when the run started; {len(roots)} package folders)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--name", default="robustness", help="report name (robustness-before...)")
    parser.add_argument(
        "--revision", help="measure this git revision's engine (e.g. 92a69d5) instead of the tree"
    )
    args = parser.parse_args()
    if args.revision:
        return run_revision(args)
    wall_start = time.monotonic()
    cpu_start = os.times()
    started_at = datetime.datetime.now(datetime.UTC)
    load_start = os.getloadavg()
    spin_wall, spin_cpu = spin()
    print(
        f"load: spin loop {spin_wall:.1f} s wall, {spin_cpu:.1f} s CPU (idle: "
        f"{QUIET_SPIN_SECONDS} s); load average {load_start[0]:.1f}",
        flush=True,
    )
    images = int(os.environ.get("ROBUSTNESS_IMAGES") or 0) or None
    clips = int(os.environ.get("ROBUSTNESS_VIDEO_CLIPS") or 2)
    do_video = os.environ.get("ROBUSTNESS_VIDEO", "1") != "0"
    workers = int(os.environ.get("ROBUSTNESS_WORKERS") or 0) or min(2, evaluate.cpu_count())
    root = Path(os.environ.get("ROBUSTNESS_CORPUS", "bench/.corpus")).resolve()
    suffix = args.name.removeprefix("robustness")
    args.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {"load probe (spin loop)": time.monotonic() - wall_start}
    registry = load_registry()
    parent_modules = evaluate.module_files(registry)
    evaluate.check_modules(parent_modules)
    code = code_description(parent_modules)  # at the start: the tree may change during the run

    t = time.monotonic()
    print("fetching and preparing the corpus ...", flush=True)
    corpus = corpus_mod.build_corpus(root, workers)
    originals = corpus.originals
    if images:
        originals = corpus_mod.sample_limited(originals, images)
    timings["corpus fetch + prepare"] = time.monotonic() - t
    print(f"  {len(originals)} originals ({timings['corpus fetch + prepare']:.0f} s)", flush=True)

    work = Path(tempfile.mkdtemp(prefix="hashcore-robustness-run-"))
    store = work / "store"
    try:
        t = time.monotonic()
        paths = [Path(o.path) for o in originals]
        entry_ids = evaluate.bank_originals(store, paths)
        photos = [Path(o.path) for o in originals if o.kind == "photo"][:clips] if do_video else []
        video_paths = video.prepare_videos(work / "videos", photos) if do_video else []
        video_ids = (
            evaluate.bank_originals(store, video_paths, video.VIDEO_BANK) if do_video else []
        )
        timings["banking (bank add path)"] = time.monotonic() - t

        t = time.monotonic()
        print(
            f"looking up {len(paths) * len(EDITS)} edited copies"
            + (f" and the video edits of {len(video_paths)} videos" if video_paths else "")
            + f" with {workers} workers ...",
            flush=True,
        )
        run = evaluate.run_lookups(store, paths, workers, video_paths, work / "video-edits")
        results, video_results = run.images, run.videos
        timings["edits + lookups (images and video, one pool)"] = time.monotonic() - t

        t = time.monotonic()
        stored = evaluate.stored_values(store, evaluate.BANK, entry_ids)
        distances = {
            family: evaluate.family_distances(family, results, stored[family])
            for family in evaluate.HAMMING_FAMILIES
        }
        tmk_scores = tmk_distinct_scores(video_results, registry) if do_video else []
        timings["distances"] = time.monotonic() - t
    finally:
        shutil.rmtree(work, ignore_errors=True)

    t = time.monotonic()
    thresholds = {f: int(registry.get(f).default_threshold) for f in evaluate.HAMMING_FAMILIES}
    try:
        plot_names = report.plots(args.out, suffix, distances, results, thresholds)
        plot_error = ""
    except ImportError as error:
        plot_names, plot_error = [], str(error)
    timings["plots"] = time.monotonic() - t
    wall = time.monotonic() - wall_start
    cpu_end = os.times()
    cpu = (cpu_end.user + cpu_end.children_user + cpu_end.system + cpu_end.children_system) - (
        cpu_start.user + cpu_start.children_user + cpu_start.system + cpu_start.children_system
    )
    load = {
        "spin_wall": spin_wall,
        "spin_cpu": spin_cpu,
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "started_at": started_at,
        "worker_cpu": run.cpu,
        "modules": {"parent": parent_modules, **run.modules},
        "code": code,
        "plots": plot_names,
        "plot_error": plot_error,
    }
    text = write_report(
        args,
        suffix,
        corpus,
        originals,
        entry_ids,
        results,
        distances,
        thresholds,
        registry,
        video_results,
        video_ids,
        video_paths,
        tmk_scores,
        timings,
        wall,
        cpu,
        workers,
        load,
    )
    (args.out / f"{args.name}.md").write_text(text)
    print(f"wrote {args.out / (args.name + '.md')} in {wall:.0f} s", flush=True)
    return 0


def tmk_distinct_scores(results: list[evaluate.EditResult], registry: object) -> list[float]:
    """TMK scores between the identical-file queries of distinct video originals."""
    signal_type = registry.get("tmk_pdqf")  # type: ignore[attr-defined]
    values = {
        r.original: r.query["tmk_pdqf"][0]
        for r in results
        if r.edit == "identical file" and r.query.get("tmk_pdqf")
    }
    keys = sorted(values)
    return [
        float(signal_type.compare(values[a], values[b]))
        for i, a in enumerate(keys)
        for b in keys[i + 1 :]
    ]


def write_report(
    args,
    suffix,
    corpus,
    originals,
    entry_ids,
    results,
    distances,
    thresholds,
    registry,
    video_results,
    video_ids,
    video_paths,
    tmk_scores,
    timings,
    wall,
    cpu,
    workers,
    load,
) -> str:
    import importlib.metadata as md

    lines: list[str] = []
    add = lines.append
    name = args.name
    add(f"# Robustness benchmark ({name})")
    add("")
    env_bits = [
        f"{k}={os.environ[k]}"
        for k in ("ROBUSTNESS_IMAGES", "ROBUSTNESS_VIDEO", "ROBUSTNESS_VIDEO_CLIPS")
        if os.environ.get(k)
    ]
    rev = os.environ.get("HASHCORE_BENCH_REVISION")
    add(
        "Command: "
        + (" ".join(env_bits) + " " if env_bits else "")
        + f"`.venv/bin/python -m bench.robustness --name {name}"
        + (f" --revision {rev}`" if rev else "` (`make bench-robustness`)")
        + ". Code: `bench/robustness/`."
    )
    add("")
    add(f"Engine measured: {load['code']}.")
    add("")
    add(
        f"Run: started {load['started_at']:%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {workers} worker processes, Python {platform.python_version()}, "
        f"hashcore {md.version('hashcore')}, numpy {np.__version__}, "
        f"Pillow {md.version('Pillow')}, "
        f"av {md.version('av')}."
    )
    add(
        f"**Wall time: {wall / 60:.1f} min** ({wall:.0f} s, measured inside the command with "
        f"`time.monotonic()` from start to report; CPU time of the process and its workers "
        f"{cpu:.0f} s, of which the workers' tasks: images {load['worker_cpu']['image']:.0f} s, "
        f"video {load['worker_cpu']['video']:.0f} s). Phases: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + "."
    )
    share = load["spin_cpu"] / load["spin_wall"] if load["spin_wall"] else float("nan")
    add(
        f"**Machine load:** a fixed pure-Python loop ({SPIN_LOOPS:,} additions, run at the "
        f"start) took {load['spin_wall']:.1f} s wall / {load['spin_cpu']:.1f} s CPU, against "
        f"{QUIET_SPIN_SECONDS} s on an idle core: the process got {share:.0%} of a core, and its "
        f"CPU time was {load['spin_cpu'] / QUIET_SPIN_SECONDS:.1f}x the idle figure (above 1: "
        "shared caches or hyper-threads slowed the core itself). Load average "
        f"(1 min) {load['load_start'][0]:.1f} at the start, {load['load_end'][0]:.1f} at the "
        f"end, on {os.cpu_count()} CPUs. On an idle machine expect about CPU time / "
        f"{workers} workers."
    )
    add("")
    add(
        "Everything goes through the public path: originals are added by the function `hashcore "
        "bank add` runs (`hashcore.cli.bank_cmd._add_one`) to a real store on disk; every edited "
        "copy is written to a file and looked up with `Engine.lookup_file` "
        "(`hashcore lookup FILE`) "
        "at the default thresholds ("
        + ", ".join(f"{f} {t}" for f, t in thresholds.items())
        + f", tmk_pdqf {registry.get('tmk_pdqf').default_threshold:g}). A hit on the edit's own "
        "original is correct; a hit on any other entry is a false match. Per-family columns: the "
        "family's signal was among the hit's signals (PDQ: any of its lookup variants)."
    )
    add("")
    # Corpus
    add("## Corpus")
    add("")
    by_pkg = Counter(o.package for o in originals)
    by_kind = Counter(o.kind for o in originals)
    add(
        f"{len(originals)} distinct pictures (of {corpus.candidates} candidate files; dropped: "
        f"{corpus.dropped_md5} identical by MD5, {corpus.dropped_group} the same picture by "
        "name (one wallpaper's resolutions or light/dark renderings, OpenCV's frame and stereo "
        f"pairs: `corpus.group_key`), {corpus.dropped_blank} blank (luma deviation < "
        f"{corpus_mod.BLANK_STD}), {len(corpus.dropped_near)} near-duplicates by PDQ <= "
        f"{corpus_mod.NEAR_DUPLICATE_PDQ}, {corpus.dropped_small} smaller than "
        f"{corpus_mod.MIN_SIDE} px, {corpus.dropped_unreadable} unreadable). Debian bookworm "
        f"packages fetched with `apt-get download`, unpacked with `dpkg-deb -x` (cached in "
        f"`bench/.corpus`); each picture EXIF-rotated, flattened on white or black (whichever "
        "shows more), downscaled to a long "
        f"side of at most {corpus_mod.LONG_SIDE} px and saved as JPEG q95: that file is banked "
        "and edited."
    )
    add("")
    add(
        "Split by kind (per source, see `corpus.SOURCES`): "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items()))
        + ". *mixed* = wallpaper sets of photographs and digital art; *artwork* = illustrations, "
        "abstract art, photographed paintings; *astrophoto* = telescope photographs (Stellarium)."
    )
    add("")
    add("| package (.deb) | pictures |")
    add("|---|---|")
    for pkg, info in sorted(corpus.packages.items()):
        add(f"| {info['deb']} | {by_pkg.get(pkg, 0)} |")
    add("")
    if corpus.dropped_near:
        add("<details><summary>near-duplicates dropped</summary>")
        add("")
        for a, b, d in corpus.dropped_near:
            add(f"- `{a}` ~ `{b}` (PDQ {d})")
        add("")
        add("</details>")
        add("")
    # Recall
    rows, groups, false_by_family = report.image_section(results, entry_ids)
    add("## Targets")
    add("")
    accidental: dict[str, float] = {}
    acc_tables = {}
    for family, fd in distances.items():
        table, head = report.accidental_rows(fd, thresholds[family])
        acc_tables[family] = table
        accidental.update(head)
    fused_false = sum(g["false"] for g in groups.values())
    pdq_acc = {k: v for k, v in accidental.items() if k.startswith("pdq")}
    lines.extend(report.target_lines(groups, fused_false, pdq_acc))
    add("")
    add(
        "The accidental-match target is checked for PDQ, the family the fused lookup leans on for "
        "images; pHash's figures are in its table below (at its default the uniform-code figure is "
        f"{accidental.get('phash uniform codes', float('nan')):.1e} per lookup at 10M)."
    )
    add("")
    add("## Recall per group (images)")
    add("")
    add("| group | copies | **fused** | md5 | pdq | phash | false matches |")
    add("|---|---|---|---|---|---|---|")
    for group, label in GROUPS.items():
        g = groups.get(group)
        if g:
            n = g["n"]
            add(
                f"| {label} | {n} | **{g['fused'] / n:.3f}** | "
                + " | ".join(f"{g[f] / n:.3f}" for f in report.FAMILIES)
                + f" | {g['false']} |"
            )
    add("")
    add("## Recall per edit (images)")
    add("")
    lines.extend(rows)
    add("")
    if fused_false:
        add(f"False matches by family signal: {dict(false_by_family)}. Pairs:")
        add("")
        seen = 0
        for r in results:
            own = entry_ids[r.original]
            for entry, hits in r.matches.items():
                if entry != own and seen < 20:
                    other = entry_ids.index(entry) if entry in entry_ids else None
                    desc = (
                        f"{originals[other].package}:{originals[other].member}"
                        if other is not None
                        else entry
                    )
                    add(
                        f"- {r.edit} of `{originals[r.original].package}:"
                        f"{originals[r.original].member}` -> "
                        f"`{desc}` {hits}"
                    )
                    seen += 1
        add("")
    # Distances
    add("## Distances between different pictures")
    add("")
    for family, fd in distances.items():
        q = (
            np.percentile(fd.plain_distinct, [0, 0.1, 1, 50])
            if len(fd.plain_distinct)
            else [np.nan] * 4
        )
        cum = np.cumsum(fd.distinct_hist)
        add(
            f"- **{family}** ({fd.bits} bits): plain hashes of {len(originals)} distinct originals "
            f"({len(fd.plain_distinct):,} pairs): min {q[0]:.0f}, 0.1st percentile {q[1]:.0f}, "
            f"1st {q[2]:.0f}, median {q[3]:.0f}. As looked up (min over "
            f"{fd.query_variants:.1f} query x {fd.stored_variants:.2f} stored values, "
            f"{int(fd.distinct_hist.sum()):,} ordered pairs): within the default "
            f"{thresholds[family]}: {int(cum[thresholds[family]])}; min "
            f"{int(np.flatnonzero(fd.distinct_hist)[0]) if fd.distinct_hist.any() else '-'}."
        )
        close = ", ".join(
            f"`{originals[a].member.rsplit('/', 1)[-1]}`/"
            f"`{originals[b].member.rsplit('/', 1)[-1]}` {d}"
            for a, b, d in fd.closest_distinct[:5]
        )
        add(f"  Closest pairs: {close}.")
    add("")
    names = load["plots"]
    if load["plot_error"]:
        add(f"(plots skipped: {load['plot_error']}; install the `bench` extra)")
    for n in names:
        add(f"![{n}]({n})")
        add("")
    add("## Expected accidental matches per lookup")
    add("")
    add(
        "Against a bank of N unrelated entries: N x P(one lookup matches one unrelated entry). "
        "(a) *uniform codes*: P = 1 - (1 - P(Binomial(bits, 1/2) <= t))^(comparisons); "
        "(b) the corpus's own distances, from the pairs below. Real banks hold content that "
        "clusters (similar scenes, flat pictures), so (b) is the better guide where it resolves."
    )
    add("")
    for family in distances:
        add(f"### {family}")
        add("")
        lines.extend(acc_tables[family])
        add("")
    add("### Recall at the same thresholds")
    add("")
    add("| family | threshold | " + " | ".join(GROUPS) + " |")
    add("|---|---|" + "---|" * len(GROUPS))
    group_of = {e.name: e.group for e in EDITS}
    groups_arr = np.array([group_of[r.edit] for r in results])
    for family, fd in distances.items():
        for t in sorted(set(report.SCAN[family]) | {thresholds[family]}):
            cells = []
            for group in GROUPS:
                mask = groups_arr == group
                cells.append(f"{(fd.genuine[mask] <= t).mean():.3f}" if mask.any() else "-")
            add(f"| {family} | {t} | " + " | ".join(cells) + " |")
    add("")
    # Video
    if video_results:
        add("## Video (TMK+PDQF)")
        add("")
        add(
            "Originals: the shared TMK samples' originals and clips made from corpus photographs "
            f"(pan and zoom, {video.CLIP_SECONDS} s, {video.CLIP_SIZE[0]}x{video.CLIP_SIZE[1]}, "
            f"{video.FPS} fps, H.264). Edits re-encode with libx264 (CRF 23 unless stated); the "
            "shared samples' own variants are looked up against their original."
        )
        add("")
        vlines, vfalse = report.video_section(
            video_results, video_ids, [p.name for p in video_paths]
        )
        lines.extend(vlines)
        add("")
        if tmk_scores:
            add(
                f"TMK scores between distinct video originals ({len(tmk_scores)} pairs): max "
                f"{max(tmk_scores):.3f}, median {float(np.median(tmk_scores)):.3f} (match >= "
                f"{registry.get('tmk_pdqf').default_threshold:g}). "
                f"False matches among videos: {vfalse}."
            )
            add("")
    add("## Where the engine was imported from")
    add("")
    for who, files in load["modules"].items():
        label = "parent" if who == "parent" else f"worker pid {who}"
        add(f"- {label}: " + ", ".join(f"`{m}` {f}" for m, f in sorted(files.items())))
    add("")
    add("## Reading it")
    add("")
    add("- The recall targets are for the matching algorithms; this benchmark only measures them.")
    add(
        "- Empirical accidental-match rates cannot resolve below one pair in the number of pairs "
        "measured; the uniform-code column is the floor for random-looking content, the corpus "
        "columns show how much more often real pictures collide."
    )
    add(
        "- Corpus: desktop wallpapers, sample photographs and telescope pictures, not the content "
        "hotlines see; rerun with a more representative lawful set before final decisions."
    )
    add("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
