"""Local ``evaluate`` metric module wrapping ``hf_msa.metrics.msa_metrics``.

Why: some users drive evaluation through ``evaluate.load(...)`` / ``evaluate.combine``.
This wrapper lets them do so offline without a second implementation of the MMSA
metrics: ``_compute`` only delegates to ``hf_msa.metrics``. The ``config_name`` passed
to ``evaluate.load`` selects the family ("mosi", "mosei", "sims", "sims_v2",
"classification"; "default" means "mosi").

Note: evaluate finds this file's dependencies with a regex over the source, so keep
one import per line and no comments on import lines.
"""

import datasets
import evaluate
import hf_msa.metrics

_DESCRIPTION = (
    "Multimodal sentiment analysis metrics exactly as in MMSA's metricsTop: "
    "MOSI/MOSEI (Has0/Non0 Acc-2 and weighted F1, Acc-5, Acc-7, MAE, Pearson Corr), "
    "SIMS (Acc-2/3/5 on clipped bins, weighted F1, MAE, Corr) and classification "
    "(Accuracy, weighted F1, macro F1)."
)

_KWARGS_DESCRIPTION = (
    "Args:\n"
    "    predictions: regression scores (mosi, sims) or integer class ids (classification).\n"
    "    references: regression targets (mosi, sims) or integer class ids (classification).\n"
    "    round_digits: decimals to round to (default 4, None for no rounding).\n"
    "    include_acc_3: mosi only, also report Mult_acc_3.\n"
    "Returns:\n"
    "    dict of floats, keys as in hf_msa.metrics.MSA_METRIC_KEYS[config_name].\n"
)

_CITATION = (
    "@inproceedings{mao2022mmsa, title={M-SENA: An Integrated Platform for Multimodal "
    "Sentiment Analysis}, author={Mao, Huisheng and others}, booktitle={ACL: System "
    "Demonstrations}, year={2022}}"
)


def _family(config_name):
    """Resolve the config name to a family key of ``MSA_METRIC_KEYS`` (fail at load time)."""
    name = "mosi" if config_name in (None, "default") else str(config_name).strip().lower().replace("-", "_")
    if name not in hf_msa.metrics.MSA_METRIC_KEYS:
        valid = ", ".join(repr(key) for key in hf_msa.metrics.MSA_METRIC_KEYS)
        raise ValueError(f"Unknown config_name {config_name!r}; valid families are {valid}")
    return name


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MsaMetrics(evaluate.Metric):
    """MMSA metric set; ``config_name`` picks mosi / sims / classification."""

    def _info(self):
        family = _family(self.config_name)
        dtype = "int64" if family == "classification" else "float32"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value(dtype), "references": datasets.Value(dtype)}
            ),
            # numpy format keeps float32 values float32, so SIMS bin edges such as 0.1
            # compare exactly as in MMSA instead of being widened to 0.10000000149.
            format="numpy",
        )

    def _compute(self, predictions, references, round_digits=4, include_acc_3=False):
        family = _family(self.config_name)
        kwargs = {"round_digits": round_digits}
        if include_acc_3:
            kwargs["include_acc_3"] = True
        return hf_msa.metrics.msa_metrics(predictions, references, family, **kwargs)


__all__ = ["MsaMetrics"]
