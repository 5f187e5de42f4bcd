"""The interleaved timing loop of the official-versus-port benchmarks (lnln_official, hme_official): each repeat
times the official call then the port's, so drift in the machine's speed hits both alike."""

import statistics
import time


def time_side_by_side(models, train_pair, infer_pair, warmup: int, repeats: int) -> dict:
    """Median seconds of a training step and an inference call, official and port, interleaved.

    `models` are (official, port), put in train mode for the training phase and eval mode for inference;
    `train_pair` and `infer_pair` are (official_call, port_call). Returns {"median_s", "all_s",
    "port_speedup_train", "port_speedup_infer"} (all_s keeps only the timed repeats, not the warm-up)."""
    times = {name: [] for name in ("train_official", "train_port", "infer_official", "infer_port")}
    for phase, pair in (("train", train_pair), ("infer", infer_pair)):
        for model in models:
            model.train(phase == "train")
        for repeat in range(warmup + repeats):
            for who, function in zip(("official", "port"), pair):
                started = time.perf_counter()
                function()
                if repeat >= warmup:
                    times[f"{phase}_{who}"].append(time.perf_counter() - started)
        print(f"{phase}: official {statistics.median(times[f'{phase}_official']):.3f} s, "
              f"port {statistics.median(times[f'{phase}_port']):.3f} s")
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"median_s": medians, "all_s": times,
            "port_speedup_train": medians["train_official"] / medians["train_port"],
            "port_speedup_infer": medians["infer_official"] / medians["infer_port"]}
