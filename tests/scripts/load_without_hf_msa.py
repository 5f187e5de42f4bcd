"""Run by tests/test_remote_code.py with a Python that has torch and transformers but not hf_msa: load each
checkpoint (a folder or a Hub repo id at a revision) through the Auto classes with trust_remote_code=True, run its
processor and model on the given inputs, and write what came out.

argv: request.json output.json. The request is {name: {"path", "revision", "texts", "arrays": file.npz}}; the npz
holds audio_0, audio_1, ... and vision_0, ... ([time, width] per sample). With {"path", "tensors": file.safetensors}
instead, those tensors are the model's inputs as they are and no processor is loaded.
"""

import json
import os
import sys

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoProcessor

try:
    import hf_msa  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("hf_msa is importable here: this check must run where it is not installed")


def class_name(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def main(request_file: str, output_file: str) -> None:
    request = json.loads(open(request_file).read())
    results = {}
    for name, source in request.items():
        refused = {}
        for auto_class in (AutoModel, AutoProcessor):  # without trust_remote_code: refused, never a bare tokenizer
            try:
                loaded = auto_class.from_pretrained(source["path"], revision=source.get("revision"))
            except ValueError as error:
                refused[auto_class.__name__] = str(error)
            else:
                refused[auto_class.__name__] = f"LOADED {class_name(loaded)}"
        options = dict(trust_remote_code=True, revision=source.get("revision"))
        config = AutoConfig.from_pretrained(source["path"], **options)
        model = AutoModel.from_pretrained(source["path"], **options).eval()
        classifier = AutoModelForSequenceClassification.from_pretrained(source["path"], **options).eval()
        if "tensors" in source:  # model inputs given as they are (e.g. an official fixture's), no processor
            from safetensors.torch import load_file

            encoded, processor = load_file(source["tensors"]), None
        else:
            processor = AutoProcessor.from_pretrained(source["path"], **options)
            arrays = np.load(source["arrays"])
            texts = source["texts"]
            audio = [arrays[f"audio_{i}"] for i in range(len(texts))] if "audio_0" in arrays else None
            vision = [arrays[f"vision_{i}"] for i in range(len(texts))] if "vision_0" in arrays else None
            encoded = processor(text=texts, audio=audio, vision=vision, padding=config.input_padding,
                                return_tensors="pt")
        with torch.no_grad():
            logits = model(**encoded).logits
            classifier_logits = classifier(**encoded).logits
        # saved again from here (e.g. after fine-tuning without hf_msa), the checkpoint still carries its code
        resaved = os.path.join(os.path.dirname(os.path.abspath(output_file)), f"resaved-{name}")
        model.save_pretrained(resaved)
        again = AutoModel.from_pretrained(resaved, trust_remote_code=True).eval()
        with torch.no_grad():
            resaved_logits = again(**encoded).logits
        results[name] = {
            "classes": {"config": class_name(config), "model": class_name(model), "classifier": class_name(classifier),
                        **({"processor": class_name(processor),
                            "feature_extractor": class_name(processor.feature_extractor)} if processor else {})},
            "input_keys": sorted(encoded),
            "without_trust_remote_code": refused,
            "logits": logits.tolist(),
            "classifier_logits": classifier_logits.tolist(),
            "resaved_logits": resaved_logits.tolist(),
            "resaved_files": sorted(os.listdir(resaved)),
        }
    with open(output_file, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
