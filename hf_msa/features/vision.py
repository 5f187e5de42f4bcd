"""Per-frame face landmarks from MediaPipe FaceMesh (the model the `mediapipe==0.10.14` wheel carries).

One row per sampled frame: the (x, y, z) of each landmark, x and y in [0, 1] of the frame's width and height, z on
the same scale as x with the face centre at 0 (MediaPipe's convention). A frame where no face is found keeps its row,
filled with zeros, and `face_found[i]` says so: rows are never dropped. FaceMesh's legacy solution gives no
blendshapes or head pose (those need the Tasks API's `.task` bundles, which the wheel does not carry), so none are
emitted.
"""

from __future__ import annotations

import os

import numpy as np

from .audio import FeatureSequence
from .media import iter_video_frames


class FaceMeshLandmarks:
    """`extractor(path)` -> (FeatureSequence of [frames, 3 * landmarks], face_found [frames] bool)."""

    def __init__(self, fps: float | None = None, refine_landmarks: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        import mediapipe  # noqa: F401 - fail at construction with the import error, not on the first clip

        if not 0 <= min_detection_confidence <= 1 or not 0 <= min_tracking_confidence <= 1:
            raise ValueError("min_detection_confidence and min_tracking_confidence must lie in [0, 1]")
        self.fps, self.refine_landmarks = fps, refine_landmarks
        self.min_detection_confidence, self.min_tracking_confidence = min_detection_confidence, min_tracking_confidence
        self.landmarks = 478 if refine_landmarks else 468  # refinement adds 10 iris points
        self.dim = 3 * self.landmarks
        self.names = [f"{axis}_{i}" for i in range(self.landmarks) for axis in "xyz"]

    @property
    def settings(self) -> dict:
        return {"extractor": "mediapipe_face_mesh", "mediapipe": _mediapipe_version(), "fps": self.fps or "native",
                "refine_landmarks": self.refine_landmarks, "landmarks": self.landmarks, "dim": self.dim,
                "min_detection_confidence": self.min_detection_confidence,
                "min_tracking_confidence": self.min_tracking_confidence}

    def __call__(self, path: str | os.PathLike) -> tuple[FeatureSequence, np.ndarray]:
        import mediapipe as mp

        rows, times, found = [], [], []
        # A fresh tracker per clip: FaceMesh tracks across calls, and one clip must not seed the next.
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                             refine_landmarks=self.refine_landmarks,
                                             min_detection_confidence=self.min_detection_confidence,
                                             min_tracking_confidence=self.min_tracking_confidence) as mesh:
            for time, frame in iter_video_frames(path, self.fps):
                result = mesh.process(frame)
                if result.multi_face_landmarks:
                    points = result.multi_face_landmarks[0].landmark
                    rows.append(np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32).reshape(-1))
                    found.append(True)
                else:
                    rows.append(np.zeros(self.dim, dtype=np.float32))
                    found.append(False)
                times.append(time)
        values = np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
        return FeatureSequence(values, np.asarray(times, dtype=np.float64), list(self.names)), np.asarray(found)


def _mediapipe_version() -> str:
    import mediapipe

    return getattr(mediapipe, "__version__", "unknown")


__all__ = ["FaceMeshLandmarks"]
