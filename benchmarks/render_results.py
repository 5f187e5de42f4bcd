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


def main():
    results = json.loads((ROOT / "benchmarks" / "results" / "dib_mosi_text.json").read_text())
    block = f"<!-- results:dib_mosi_text -->\n{dib_mosi_text_table(results)}\n<!-- /results:dib_mosi_text -->"
    readme = ROOT / "README.md"
    text = readme.read_text()
    pattern = re.compile(r"<!-- results:dib_mosi_text -->.*?<!-- /results:dib_mosi_text -->", re.S)
    if not pattern.search(text):
        raise SystemExit("README.md has no <!-- results:dib_mosi_text --> block to fill")
    readme.write_text(pattern.sub(block, text))
    print(block)


if __name__ == "__main__":
    main()
