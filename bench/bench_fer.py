#!/usr/bin/env python3
"""valence_fer_node's pure pipeline on one core: per-crop classification and whole frames.

Real model (the `fer` package's mini-Xception FER2013 .tflite, LiteRT, 1 thread), real faces
(valence_ros.fer.sample_faces: scikit-image's astronaut, smiling; matplotlib's Grace
Hopper, neutral), the process pinned to one CPU, OpenCV on 1 thread.

Per crop (a BGR face crop as ROS4HRI's /humans/faces/<id>/cropped delivers it):
  * ours      FerPipeline.classify_crop(crop): gray, resize, scale, one invoke, renormalise
  * baseline  the way PAL's hri_emotion_recognizer calls its model, per face: cv2.resize to
              64x64, cvtColor to gray, reshape, set the input, invoke, read the output, numpy
              softmax, argsort for the top class (its ONNX model through cv2.dnn; OpenCV's dnn
              cannot load this .tflite, so the same steps call the same LiteRT interpreter)
  * the model alone: set_tensor + invoke + get_tensor on a ready tensor
Per frame (640x480 BGR, 1 and 4 faces composed from the real photographs):
  * ours      FerPipeline.process: gray, Haar detection on a 0.5x copy (min_face_size 48,
              the node's defaults) of the whole frame every 5th frame and around the
              tracked faces in between, IoU tracking, fer-exact crops, classification;
              also with a whole-frame scan on every frame (full_detection_period 1)
  * baseline  the `fer` package's own FER.detect_emotions steps (without tensorflow):
              gray, Haar detection at full resolution (minSize 50), the whole gray image
              padded by 40 px, a crop and a resize per face, one invoke per face

Each repetition times every candidate in turn (interleaved, so load from other processes
hits all alike): p50/p99 per call in us, frames/s = frames / total time. Times are the
measuring thread's CPU time (time.thread_time: OpenCV and LiteRT run in that thread, one
thread each), i.e. what one core spends, robust to other processes on a shared machine;
wall-clock p50/p99 and frames/s are in the JSON details. Figures: median
over repetitions, range = min..max over repetitions; ratios divide by the baseline's
figure of the same repetition.

    python bench/bench_fer.py [--repeats 5] [--crops 2000] [--frames 60] [--smoke] [--out F]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
import numpy as np  # noqa: E402


def pin_one_cpu() -> int | None:
    """Run on one CPU (the last one allowed): 'one core' figures."""
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return cpu
    except (AttributeError, OSError):
        return None


def timed(fn, calls: int) -> tuple[np.ndarray, np.ndarray]:
    """(wall seconds, this thread's CPU seconds) of each of `calls` calls of fn()."""
    return timed_each(lambda _: fn(), range(calls))


def timed_each(fn, items) -> tuple[np.ndarray, np.ndarray]:
    """(wall seconds, this thread's CPU seconds) of fn(item) for each item."""
    wall, cpu = np.empty(len(items)), np.empty(len(items))
    clock, cpu_clock = time.perf_counter, time.thread_time
    for i, item in enumerate(items):
        t0, c0 = clock(), cpu_clock()
        fn(item)
        cpu[i] = cpu_clock() - c0
        wall[i] = clock() - t0
    return wall, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--crops", type=int, default=2000, help="calls per repetition, per crop candidate")
    parser.add_argument("--frames", type=int, default=60, help="frames per repetition, per frame candidate")
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI (numbers meaningless)")
    parser.add_argument("--out", default=None, help="JSON file (default: benchlib's bench_results/fer.json)")
    args = parser.parse_args(argv)
    if args.smoke or os.environ.get("VALENCE_BENCH_SMOKE"):
        args.repeats, args.crops, args.frames = 3, 30, 3
    result = benchlib.Result("fer")
    cpu = pin_one_cpu()

    from valence_ros.fer.dependencies import check_fer_dependencies
    check_fer_dependencies()
    import cv2

    from valence_ros.fer.classifier import ExpressionClassifier
    from valence_ros.fer.face_detection import FaceDetector
    from valence_ros.fer.face_tracking import FaceTracker
    from valence_ros.fer.pipeline import FerPipeline
    from valence_ros.fer.sample_faces import SAMPLE_FACES, compose_frame, load_sample_face

    cv2.setNumThreads(1)
    classifier = ExpressionClassifier()

    def make_pipeline(full_detection_period: int = 5) -> FerPipeline:
        return FerPipeline(FaceDetector(min_face_size=48, detection_scale=0.5, max_faces=4),
                           FaceTracker(match_iou=0.3, lost_timeout_s=1.0, max_faces_tracked=16), classifier,
                           full_detection_period=full_detection_period)
    pipeline = make_pipeline()

    # ---- the baselines' pieces: one LiteRT interpreter, as PAL keeps one cv2.dnn net ----------------
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(classifier.model_path), num_threads=1)
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    out_index = interpreter.get_output_details()[0]["index"]

    def pal_style(face_bgr):
        img_face = cv2.resize(face_bgr, (64, 64))
        img_face = cv2.cvtColor(img_face, cv2.COLOR_BGR2GRAY)
        img_face = ((img_face.reshape(1, 64, 64, 1) / 255.0 - 0.5) * 2.0).astype(np.float32)  # this model's input
        interpreter.set_tensor(in_index, img_face)
        interpreter.invoke()
        scores = interpreter.get_tensor(out_index)[0]
        exp_scores = np.exp(scores - np.max(scores))
        prob = exp_scores / exp_scores.sum()
        classes = np.argsort(prob)[::-1]
        return classes[0], prob[classes[0]]

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def fer_package_style(frame):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, flags=cv2.CASCADE_SCALE_IMAGE,
                                         minSize=(50, 50))
        rows, cols = gray.shape
        mean = cv2.mean(gray[rows - 2:rows, 0:cols])[0]
        padded = cv2.copyMakeBorder(gray, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=[mean, mean, mean])
        out = []
        for x, y, w, h in faces:
            if h > w:
                x, w = x - (h - w) // 2, h
            elif w > h:
                y, h = y - (w - h) // 2, w
            x1, y1 = max(0, x - 10 + 40), max(0, y - 10 + 40)
            face = cv2.resize(padded[y1:y + h + 50, x1:x + w + 50], (64, 64))
            face = ((np.asarray(face, dtype=np.float32) / 255.0) - 0.5) * 2.0
            interpreter.set_tensor(in_index, face[None, :, :, None])
            interpreter.invoke()
            out.append(interpreter.get_tensor(out_index)[0].copy())
        return out

    # ---- inputs: real face crops and composed frames ----------------------------------------------
    crops_bgr = []
    for name in SAMPLE_FACES:
        x, y, w, h = SAMPLE_FACES[name][2]
        crops_bgr.append(np.ascontiguousarray(load_sample_face(name)[y:y + h, x:x + w]))
    ready = np.zeros((1, 64, 64, 1), np.float32)
    frames = {1: compose_frame(["astronaut"]),
              4: compose_frame(["astronaut", "grace_hopper", "grace_hopper", "astronaut"])}
    # one pipeline (one tracker) per video: 1 face, 4 faces, 4 faces scanned whole every frame
    videos = {"frame1": (frames[1], make_pipeline()), "frame4": (frames[4], make_pipeline()),
              "frame4_full": (frames[4], make_pipeline(full_detection_period=1))}
    for n, frame in frames.items():   # sanity: both ways find every face
        found, theirs = len(make_pipeline().process(frame, 0.0).faces), len(fer_package_style(frame))
        if found != n or theirs != n:
            print(f"[bench_fer] warning: {n}-face frame: ours found {found}, the fer package's way {theirs}",
                  file=sys.stderr)

    def model_alone():
        interpreter.set_tensor(in_index, ready)
        interpreter.invoke()
        interpreter.get_tensor(out_index)

    crop_cycle = [crops_bgr[i % len(crops_bgr)] for i in range(args.crops)]
    samples = {"ours": [], "pal": [], "model": [], "frame1": [], "frame1_base": [], "frame4": [],
               "frame4_base": [], "frame4_full": []}
    stamp = [0.0]   # one clock for every video: 30 frames/s
    for _ in range(args.repeats):
        samples["ours"].append(timed_each(pipeline.classify_crop, crop_cycle))
        samples["pal"].append(timed_each(pal_style, crop_cycle))
        samples["model"].append(timed(model_alone, args.crops))
        for name, (frame, video_pipeline) in videos.items():
            def ours(frame=frame, video_pipeline=video_pipeline):
                stamp[0] += 1 / 30
                video_pipeline.process(frame, stamp[0])
            samples[name].append(timed(ours, args.frames))
            if name != "frame4_full":
                samples[f"{name}_base"].append(timed(lambda frame=frame: fer_package_style(frame), args.frames))

    # CPU time of the measuring thread (OpenCV and LiteRT run in it, one thread each): what one
    # core spends, unaffected by other processes taking the CPU away (this machine is shared;
    # wall-clock figures, which include waiting for the CPU, are in the details).
    def pct(name, q, clock=1):
        return [float(np.percentile(run[clock], q)) * 1e6 for run in samples[name]]

    def fps(name, clock=1):   # throughput: frames over total time (full scans and neighbourhood frames alike)
        return [1.0 / float(np.mean(run[clock])) for run in samples[name]]

    def add(name, values, unit, base=None, higher_better=False, **kw):
        value, range_ = benchlib.spread(values)
        ratio = ratio_range = None
        if base is not None:
            ratios = [v / b for v, b in zip(values, base)]
            ratio, ratio_range = benchlib.spread(ratios)
        result.add(name, value, unit, range_=range_, ratio=ratio, ratio_range=ratio_range, **kw)
        return value, range_, ratio, ratio_range

    pal_text = "PAL hri_emotion_recognizer's per-face steps, same model (same run)"
    add("classify one face crop, p50", pct("ours", 50), "us", pct("pal", 50), baseline=pal_text,
        target="<= 1000", target_on="value")
    add("classify one face crop, p99", pct("ours", 99), "us", pct("pal", 99), baseline=pal_text)
    add("faces/s, one core (1 / p50 per crop)", [1e6 / v for v in pct("ours", 50)], "faces/s",
        [1e6 / v for v in pct("pal", 50)], baseline=pal_text)
    add("the model alone (set, invoke, get), p50", pct("model", 50), "us")
    fer_text = "the fer package's detect_emotions steps (full-res Haar, one invoke per face; same run)"
    for n in (1, 4):
        add(f"640x480, {n} face{'s' if n > 1 else ''}: frames/s, one core", fps(f"frame{n}"), "frames/s",
            fps(f"frame{n}_base"), baseline=fer_text,
            **({"target": ">= 25", "target_on": "value"} if n == 4 else {}))
        add(f"640x480, {n} face{'s' if n > 1 else ''}: time per frame, p50", pct(f"frame{n}", 50), "us",
            pct(f"frame{n}_base", 50), baseline=fer_text)
        add(f"640x480, {n} face{'s' if n > 1 else ''}: time per frame, p99", pct(f"frame{n}", 99), "us",
            pct(f"frame{n}_base", 99), baseline=fer_text, note="the full-scan frames")
    add("640x480, 4 faces, full scan every frame: frames/s", fps("frame4_full"), "frames/s", fps("frame4_base"),
        baseline=fer_text, note="full_detection_period 1: what the neighbourhood search saves")

    result.details = {"cpu_pinned": cpu, "repeats": args.repeats, "crops": args.crops, "frames": args.frames,
                      "smoke": bool(args.smoke), "opencv": cv2.__version__,
                      "clock": "figures: CPU time of the measuring thread; wall_*: wall clock",
                      "cpu_us_p50_per_repetition": {k: [round(float(np.median(r[1])) * 1e6, 1) for r in v]
                                                    for k, v in samples.items()},
                      "wall_us_p50_per_repetition": {k: [round(float(np.median(r[0])) * 1e6, 1) for r in v]
                                                     for k, v in samples.items()},
                      "wall_us_p99_per_repetition": {k: [round(float(np.percentile(r[0], 99)) * 1e6, 1)
                                                         for r in v] for k, v in samples.items()},
                      "wall_frames_per_s": {k: [round(1.0 / float(np.mean(r[0])), 2) for r in v]
                                            for k, v in samples.items() if k.startswith("frame")},
                      "pipeline": {"min_face_size": 48, "detection_scale": 0.5, "max_faces": 4,
                                   "full_detection_period": 5,
                                   "scale_factor": 1.1, "min_neighbors": 5}}
    path = result.write(Path(args.out) if args.out else None)
    print(f"bench_fer (one core: cpu {cpu}, OpenCV {cv2.__version__}, {args.repeats} repetitions; "
          f"median [min-max] over repetitions)")
    for figure in result.figures:
        rng = f"[{figure['range'][0]:.1f}-{figure['range'][1]:.1f}]" if figure["range"] else ""
        ratio = (f"  x{figure['ratio']:.2f} [{figure['ratio_range'][0]:.2f}-{figure['ratio_range'][1]:.2f}] "
                 f"of baseline" if figure["ratio"] is not None else "")
        met = "" if figure["met"] is None else ("  target " + figure["target"] + (" met" if figure["met"] else
                                                                                 " MISSED"))
        print(f"  {figure['name']:<48} {figure['value']:>10.1f} {figure['unit']:<9}{rng}{ratio}{met}")
    print(f"wrote {path}; load average {benchlib.load_avg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
