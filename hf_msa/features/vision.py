"""Per-frame face landmarks from MediaPipe FaceMesh (the model the `mediapipe==0.10.14` wheel carries).

One row per sampled frame: the (x, y, z) of each landmark, x and y in [0, 1] of the frame's width and height, z on
the same scale as x with the face centre at 0 (MediaPipe's convention). A frame where no face is found keeps its row,
filled with zeros, and `face_found[i]` says so: rows are never dropped. FaceMesh's legacy solution gives no
blendshapes or head pose (those need the Tasks API's `.task` bundles, which the wheel does not carry). With
`head_pose=True` three columns are appended that we derive from the landmarks ourselves (`head_pose`, below): they are
a geometric estimate, named as such, not a library output.
"""

from __future__ import annotations

import os

import numpy as np

from .audio import FeatureSequence
from .media import iter_video_frames

# Canonical FaceMesh indices: outer eye corners (image left / right on a frontal face), forehead top, chin.
EYE_OUTER_IMAGE_LEFT, EYE_OUTER_IMAGE_RIGHT, FOREHEAD, CHIN = 33, 263, 10, 152
POSE_COLUMNS = ["pose_yaw_deg_from_landmarks", "pose_pitch_deg_from_landmarks", "pose_roll_deg_from_landmarks"]


def face_rotation(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Rotation [..., 3, 3] whose columns are the face's axes in the camera frame (x right, y down, z away from the
    camera): x along the eye line, y from forehead to chin (made orthogonal to x), z = x × y. Landmarks are
    FaceMesh's normalised (x, y, z) [..., 468+, 3]; x and z are scaled by the width, y by the height, as MediaPipe
    defines them."""
    points = landmarks * np.array([width, height, width], dtype=np.float64)
    ex = points[..., EYE_OUTER_IMAGE_RIGHT, :] - points[..., EYE_OUTER_IMAGE_LEFT, :]
    ex /= np.linalg.norm(ex, axis=-1, keepdims=True)
    down = points[..., CHIN, :] - points[..., FOREHEAD, :]
    ey = down - (down * ex).sum(-1, keepdims=True) * ex
    ey /= np.linalg.norm(ey, axis=-1, keepdims=True)
    return np.stack([ex, ey, np.cross(ex, ey)], axis=-1)


def euler_angles(rotation: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) in degrees of R = Rz(roll) · Ry(yaw) · Rx(pitch)."""
    yaw = np.arcsin(np.clip(-rotation[..., 2, 0], -1.0, 1.0))
    pitch = np.arctan2(rotation[..., 2, 1], rotation[..., 2, 2])
    roll = np.arctan2(rotation[..., 1, 0], rotation[..., 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


class FaceMeshLandmarks:
    """`extractor(path)` -> (FeatureSequence of [frames, 3 * landmarks], face_found [frames] bool)."""

    def __init__(self, fps: float | None = None, refine_landmarks: bool = False, head_pose: bool = False,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        import mediapipe  # noqa: F401 - fail at construction with the import error, not on the first clip

        if not 0 <= min_detection_confidence <= 1 or not 0 <= min_tracking_confidence <= 1:
            raise ValueError("min_detection_confidence and min_tracking_confidence must lie in [0, 1]")
        self.fps, self.refine_landmarks, self.head_pose = fps, refine_landmarks, head_pose
        self.min_detection_confidence, self.min_tracking_confidence = min_detection_confidence, min_tracking_confidence
        self.landmarks = 478 if refine_landmarks else 468  # refinement adds 10 iris points
        self.names = [f"{axis}_{i}" for i in range(self.landmarks) for axis in "xyz"]
        self.names += POSE_COLUMNS if head_pose else []
        self.dim = len(self.names)

    @property
    def settings(self) -> dict:
        return {"extractor": "mediapipe_face_mesh", "mediapipe": _mediapipe_version(), "fps": self.fps or "native",
                "refine_landmarks": self.refine_landmarks, "landmarks": self.landmarks, "head_pose": self.head_pose,
                "dim": self.dim,
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
                    points = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark])
                    row = [points.reshape(-1)]
                    if self.head_pose:
                        row.append(euler_angles(face_rotation(points, frame.shape[1], frame.shape[0])))
                    rows.append(np.concatenate(row).astype(np.float32))
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
