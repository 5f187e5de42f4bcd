"""Render the README's results table from benchmarks/results/*.json (numbers are never typed by hand).

    .venv/bin/python benchmarks/render_results.py    # rewrites the block between the results markers in README.md
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["Non0_acc_2", "Non0_F1_score", "Has0_acc_2", "Mult_acc_7", "MAE", "Corr"]


def robustness_table(report: dict) -> str:
    keys = ["Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"]
    rows = ["| model | clean MAE | " + " | ".join(f"avg {k}" for k in keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for name, result in report["models"].items():
        overall = result["random_missing_overall"]
        rows.append(f"| {name} | {result['clean']['MAE']:.4f} | " + " | ".join(f"{overall[k]:.4f}" for k in keys) + " |")
    rows += ["", "![Non0 Acc-2 against the text missing rate](benchmarks/results/robustness_mosi_text_Non0_acc_2.png)"]
    return "\n".join(rows)


def speed_table(report: dict) -> str:
    floors = "floor_s" in next(iter(next(iter(report["models"].values()))["shapes"].values()))["train_model"]
    extra = " train / inference × FLOP floor | FLOPs × encoder |" if floors else ""
    rows = ["| model | shape | train step | × text encoder | inference | × text encoder | train peak MB (× encoder) |"
            + extra, "|---|---|---|---|---|---|---|" + ("---|---|" if floors else "")]
    for name, result in report["models"].items():
        for shape, r in result["shapes"].items():
            mark = lambda ok: "" if ok else " ✗"  # noqa: E731
            row = (f"| {name} | {shape} | {r['train_model']['median_s'] * 1000:.0f} ms | {r['train_time_ratio']:.2f}"
                   f"{mark(r['train_meets_target'])} | {r['infer_model']['median_s'] * 1000:.0f} ms | "
                   f"{r['infer_time_ratio']:.2f}{mark(r['infer_meets_target'])} | "
                   f"{r['train_model']['peak_extra_mb']:.0f} ({r['train_memory_ratio']:.2f}) |")
            if floors:
                row += (f" {r['train_model']['time_over_floor']:.1f} / {r['infer_model']['time_over_floor']:.1f} | "
                        f"{r['train_flop_ratio']:.2f} / {r['infer_flop_ratio']:.2f} |")
            rows.append(row)
            if "train_model_partners" in r:
                rows.append(f"| {name} + partners | {shape} | {r['train_model_partners']['median_s'] * 1000:.0f} ms | "
                            f"{r['train_partners_time_ratio']:.2f} | | | "
                            f"{r['train_model_partners']['peak_extra_mb']:.0f} |" + (" | |" if floors else ""))
    rows.append(f"\nText encoder: {report['encoder']}; median of {report['repeats']} repeats, {report['threads']} threads; "
                f"✗ = above the {report['target_overhead']}× fusion-overhead target."
                + (f" FLOP floor: the FLOPs torch counts for the call (forward + backward for a training step) at this "
                   f"machine's fp32 matmul rate in the same run ({report['matmul_gflop_per_s']:.0f} GFLOP/s); "
                   "FLOPs × encoder: the model's counted FLOPs over its text encoder's (train / inference)."
                   if floors else ""))
    return "\n".join(rows)


def renyi_line(report: dict) -> str:
    n = max(int(size) for size in report["sizes"])
    parts = []
    for solver, verdict in report["solvers"].items():
        low, high = verdict["speedup_spread_at_largest"]
        parts.append(f"{solver} {verdict['median_speedup_at_largest']:.1f}× faster (runs {low:.1f}–{high:.1f}×), worst "
                     f"|error| {verdict['worst_abs_error']:.1e} over the timed data and {len(report['spectra'][solver])} "
                     f"other spectra ({'meets' if verdict['meets_target'] else 'misses'} the target)")
    return (f"Low-rank Rényi entropy (k = {report['rank']}) vs the full eigendecomposition at n = {n}, "
            f"{report['runs']} runs (target ≥ {report['target']['speedup_at_largest']:.0f}× and ≤ "
            f"{report['target']['abs_error']:.0e}): " + "; ".join(parts) + ". `solver=\"auto\"` uses block_krylov "
            "above n = 256.")


def accuracy_table(reports: list[tuple[str, dict]], results_dir: Path) -> str:
    """One table per dataset, from every accuracy*.json (MOSI and MOSEI may come from runs with other budgets)."""
    keys = ["Non0_acc_2", "Non0_F1_score", "Has0_acc_2", "Mult_acc_7", "MAE", "Corr"]
    rows = []
    blocks = [(name, report, dataset, block)
              for name, report in reports for dataset, block in report["datasets"].items()]
    for file_name, report, dataset, block in blocks:
        epochs = f"{report['epochs']:g} epoch" + ("" if report["epochs"] == 1 else "s")
        rows += [f"**{dataset.upper()}** (test; {len(report['seeds'])} seeds; {epochs}; sizes {block['sizes']}; "
                 f"`benchmarks/results/{file_name}`)", "",
                 "| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, result in block["models"].items():
            cells = [f"{result['test'][k]['mean']:.4f} ± {result['test'][k]['std']:.4f}" for k in keys]
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
        rows += ["", f"![accuracy on {dataset}](benchmarks/results/accuracy_{dataset}.png)", ""]
        plot_accuracy(dataset, block, results_dir / f"accuracy_{dataset}.png")
    return "\n".join(rows).rstrip()


def extraction_table(report: dict) -> str:
    rows = ["| extractor | " + " | ".join(f"{clip} (s per clip-second)" for clip in report["clips"]) + " | setup s |",
            "|---" * (len(report["clips"]) + 2) + "|"]
    names = list(dict.fromkeys(n for c in report["clips"].values() for n in c["extractors"]))
    for name in names:
        cells, setup = [], 0.0
        for clip in report["clips"].values():
            row = clip["extractors"].get(name)
            cells.append(f"{row['seconds_per_clip_second']:.3f}" if row else "—")
            setup = max(setup, row["setup_s"]) if row else setup
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {setup:.1f} |")
    rows.append(f"\n{report['threads']} threads, median of {report['repeats']} after a warm-up call; below 1 = faster "
                "than real time. `benchmarks/results/extraction.json`.")
    return "\n".join(rows)


def dib_information_table(report: dict, results_dir: Path) -> str:
    keys = ["Non0_acc_2", "Mult_acc_7", "MAE", "Corr"]
    shares = report["gradient_shares"]
    rows = ["Share of the training gradient's norm carried by the Rényi terms at initialisation, by weight λ: "
            + ", ".join(f"λ = {w}: {100 * v:.3g}%" for w, v in shares["initialisation_by_weight"].items())
            + f"; after one epoch at λ = 1e-5: {100 * shares['1e-05']['after_one_epoch']['mi_share_of_total']:.3g}%. "
            + (f"Largest λ that does not hurt validation MAE: {report['sweep_rule']['largest_harmless_weight']:g}."
               if "sweep_rule" in report else "The weight sweep is not finished (see `incomplete`)."), "",
            "| run (MOSI test) | seeds | val MAE | " + " | ".join(keys) + " |", "|---" * (len(keys) + 3) + "|"]
    for tag, entry in report["ablation"].items():
        cells = [f"{entry['test'][k]['mean']:.4f} ± {entry['test'][k]['std']:.4f}" for k in keys]
        rows.append(f"| {tag} | {entry['test']['MAE']['n']} | {entry['validation']['MAE']['mean']:.4f} | "
                    + " | ".join(cells) + " |")
    rows += ["", f"{len(report['seeds'])} seeds, {report['epochs']:g} epochs, `benchmarks/results/dib_information.json`.",
             "", "![DIB information terms](benchmarks/results/dib_information.png)"]
    plot_dib_information(report, results_dir / "dib_information.png")
    return "\n".join(rows)


def plot_dib_information(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    weights = report["gradient_shares"]["initialisation_by_weight"]
    left.loglog([float(w) for w in weights], [max(v, 1e-6) for v in weights.values()], marker="o")
    left.axvline(1e-5, color="grey", linestyle=":", label="derived weight 1e-5")
    left.set_xlabel("λ (weight of each Rényi term)")
    left.set_ylabel("share of gradient norm")
    left.set_title("Rényi terms' share of the gradient at init", fontsize=9)
    left.legend(fontsize=8)
    tags = list(report["ablation"])
    means = [report["ablation"][t]["test"]["MAE"]["mean"] for t in tags]
    stds = [report["ablation"][t]["test"]["MAE"]["std"] for t in tags]
    right.barh(range(len(tags)), means, xerr=stds, capsize=3, color="#4c72b0")
    right.set_yticks(range(len(tags)), [t.replace("lambda", "λ") for t in tags], fontsize=7)
    right.set_xlim(min(m - s for m, s in zip(means, stds)) * 0.98, max(m + s for m, s in zip(means, stds)) * 1.01)
    right.set_title("MOSI test MAE (mean ± std over seeds)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def lnln_recipe_table(report: dict) -> str:
    keys = ["Non0_acc_2", "Mult_acc_7", "MAE", "Corr"]
    rows = ["| recipe | " + " | ".join(f"test {k}" for k in keys) + " | test@0.5 MAE | test@0.5 Non0_acc_2 |",
            "|---" * (len(keys) + 3) + "|"]
    for name, entry in report["recipes"].items():
        cells = [f"{entry['test'][k]['mean']:.4f} ± {entry['test'][k]['std']:.4f}" for k in keys]
        corrupted = entry["test_at_0.5"]
        cells += [f"{corrupted[k]['mean']:.4f} ± {corrupted[k]['std']:.4f}" for k in ("MAE", "Non0_acc_2")]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    rows += ["", f"{len(report['seeds'])} seeds, {report['epochs']:g} epochs each; {report['scaling']}. "
             "`benchmarks/results/lnln_recipe.json`."]
    return "\n".join(rows)


def plot_accuracy(dataset: str, block: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(block["models"])
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for axis, key in zip(axes, ("Non0_acc_2", "MAE")):
        means = [block["models"][n]["test"][key]["mean"] for n in names]
        stds = [block["models"][n]["test"][key]["std"] for n in names]
        axis.bar(names, means, yerr=stds, capsize=4, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(names)])
        axis.set_title(f"{dataset.upper()} test {key} (mean ± std)", fontsize=9)
        low = min(m - s for m, s in zip(means, stds))
        axis.set_ylim(low * 0.95, max(m + s for m, s in zip(means, stds)) * 1.02)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def fill(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"<!-- results:{name} -->.*?<!-- /results:{name} -->", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no <!-- results:{name} --> block to fill")
    return pattern.sub(lambda _: f"<!-- results:{name} -->\n{body}\n<!-- /results:{name} -->", text)


def main():
    results_dir = ROOT / "benchmarks" / "results"
    readme = ROOT / "README.md"
    text = readme.read_text()
    robustness = results_dir / "robustness_mosi_text.json"
    if robustness.is_file():
        text = fill(text, "robustness_mosi_text", robustness_table(json.loads(robustness.read_text())))
    accuracy = [(path.name, json.loads(path.read_text())) for path in sorted(results_dir.glob("accuracy*.json"))]
    if accuracy:
        text = fill(text, "accuracy", accuracy_table(accuracy, results_dir))
    if (results_dir / "dib_information.json").is_file():
        report = json.loads((results_dir / "dib_information.json").read_text())
        text = fill(text, "dib_information", dib_information_table(report, results_dir))
    if (results_dir / "lnln_recipe.json").is_file():
        text = fill(text, "lnln_recipe", lnln_recipe_table(json.loads((results_dir / "lnln_recipe.json").read_text())))
    if (results_dir / "extraction.json").is_file():
        text = fill(text, "extraction", extraction_table(json.loads((results_dir / "extraction.json").read_text())))
    if (results_dir / "speed.json").is_file() and (results_dir / "renyi.json").is_file():
        body = speed_table(json.loads((results_dir / "speed.json").read_text()))
        body += "\n\n" + renyi_line(json.loads((results_dir / "renyi.json").read_text()))
        text = fill(text, "speed", body)
    readme.write_text(text)
    print(text[text.index("## Results"):])


if __name__ == "__main__":
    main()
