"""Render the README's results table from benchmarks/results/*.json (numbers are never typed by hand).

    .venv/bin/python benchmarks/render_results.py    # rewrites the block between the results markers in README.md
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["Non0_acc_2", "Non0_F1_score", "Has0_acc_2", "Mult_acc_7", "MAE", "Corr"]


def dib_mosi_text_table(results: dict) -> str:
    rows = ["| model (test, 3 seeds) | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 1) + "|"]
    for name, label in (("dib", "DIB (MiniLM)"), ("text_only", "text-only regressor (MiniLM)")):
        cells = [f"{results[name]['test'][k]['mean']:.4f} ± {results[name]['test'][k]['std']:.4f}" for k in KEYS]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def robustness_table(report: dict) -> str:
    keys = ["Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"]
    rows = ["| model | clean MAE | " + " | ".join(f"avg {k}" for k in keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for name, result in report["models"].items():
        overall = result["random_missing_overall"]
        rows.append(f"| {name} | {result['clean']['MAE']:.4f} | " + " | ".join(f"{overall[k]:.4f}" for k in keys) + " |")
    rows += ["", "![Non0 Acc-2 against the text missing rate](benchmarks/results/robustness_mosi_text_Non0_acc_2.png)"]
    return "\n".join(rows)


def fill(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"<!-- results:{name} -->.*?<!-- /results:{name} -->", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no <!-- results:{name} --> block to fill")
    return pattern.sub(lambda _: f"<!-- results:{name} -->\n{body}\n<!-- /results:{name} -->", text)


def main():
    results_dir = ROOT / "benchmarks" / "results"
    readme = ROOT / "README.md"
    text = readme.read_text()
    text = fill(text, "dib_mosi_text", dib_mosi_text_table(json.loads((results_dir / "dib_mosi_text.json").read_text())))
    robustness = results_dir / "robustness_mosi_text.json"
    if robustness.is_file():
        text = fill(text, "robustness_mosi_text", robustness_table(json.loads(robustness.read_text())))
    readme.write_text(text)
    print(text[text.index("## Results"):])


if __name__ == "__main__":
    main()
