"""From raw clips to features to a sentiment score, step by step (what `hf-msa extract` / `hf-msa predict` wrap).

    # the two real MOSI clips beside the repository; an untrained MiniLM-based DIB sized to the features
    .venv/bin/python examples/clip_to_prediction.py
    # your clips and your trained model (a folder saved by the pipeline or by hf-msa train on these features)
    .venv/bin/python examples/clip_to_prediction.py my.mp4 talk.wav --model runs/my-model

Without --model the score is that of an untrained fusion head: the example shows the plumbing, not accuracy.
"""

import argparse
import json
from pathlib import Path

from transformers import AutoTokenizer

from hf_msa import DibConfig, DibForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor, pipeline
from hf_msa.features import ClipFeatureExtractor, ExtractionSettings, extract_clips, save_features
from hf_msa.text_encoders import minilm_path

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi" / "raw_samples"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*",
                        default=[str(CLIPS / "Oz06ZWiO20M_6.mp4"), str(CLIPS / "03bSnISJMiM_1.wav")])
    parser.add_argument("--model", default=None, help="a model folder; default: a fresh DIB sized to the features")
    parser.add_argument("--output-dir", default="runs/clip_example")
    args = parser.parse_args()

    # 1. Features: Whisper tiny.en encoder states averaged to 10 frames/s, FaceMesh landmarks at 10 frames/s,
    #    Whisper transcripts for clips that come without text.
    extractor = ClipFeatureExtractor(ExtractionSettings(audio="whisper", audio_frame_rate=10, vision_fps=10))
    features = extract_clips(args.clips, extractor)
    target = save_features(features, args.output_dir, extractor.settings, format="arrow")
    for row in features.select_columns(["id", "text", "audio_length", "vision_length", "modalities"]):
        print(row)
    print(f"features saved to {target}")

    # 2. A model whose audio/vision dims match those features.
    if args.model:
        sentiment = pipeline(model=args.model, feature_extractor=extractor)
    else:
        config = DibConfig.from_preset("mosi", audio_dim=extractor.audio_dim, vision_dim=extractor.vision_dim)
        model = DibForSentimentAnalysis.from_text_pretrained(minilm_path(), config=config)
        processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config),
                                 AutoTokenizer.from_pretrained(minilm_path()))
        sentiment = pipeline(model=model, processor=processor, feature_extractor=extractor)
        sentiment.save_pretrained(Path(args.output_dir) / "model")  # model + processor + extraction settings

    # 3. Predictions straight from the files (the pipeline featurises each clip again, as it would a new one).
    for clip in args.clips:
        print(json.dumps(sentiment(clip)))


if __name__ == "__main__":
    main()
