"""The real tritonclient (HTTP) against a running Kennel: health, metadata, inference with JSON and binary tensors,
BYTES images and FP32 tensors, the classification extension, and errors. Its answers must equal :classify's.

Usage: tritonclient_test.py KENNEL_BINARY OUT_DIR (run by Tests/interop/run.sh inside its venv)."""

import base64
import json
import os
import sys
import tempfile
import urllib.request

import numpy as np
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The browser test's server harness and PNG writer serve here too.
sys.path.insert(0, os.path.join(REPO, "Tests", "browser"))
from kennel_server import KennelServer  # noqa: E402
from pngs import encode_gray_png, shape_image, write_shapes_dataset  # noqa: E402

LABELS = ["circle", "square"]


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def classify(server, png):
    """:classify's probabilities for one PNG, in class index order."""
    request = urllib.request.Request(f"{server.url}/v1/models/shapes:classify?top_k=2", data=png, method="POST",
                                     headers={"Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    by_label = {p["label"]: p["probability"] for p in answer["predictions"]}
    return [by_label[label] for label in LABELS]


def refused(call):
    """The InferenceServerException `call` raises (fails when it raises none)."""
    try:
        call()
    except InferenceServerException as error:
        return error
    raise AssertionError("the call succeeded, an error was expected")


def main():
    binary, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kennel-interop-") as work, \
            KennelServer(binary, REPO, os.path.join(out, "server.log")) as server:
        images_dir = os.path.join(work, "images")
        write_shapes_dataset(images_dir, per_class=24)
        imported = server.post("/v1/datasets", {"name": "shapes", "path": images_dir, "format": "imagefolder",
                                                "width": 16, "height": 16, "channels": 1})
        server.wait_for_job(imported["id"], {"succeeded"}, 30)
        job = server.post("/v1/jobs", {"dataset": "shapes", "epochs": 2, "batch_size": 8,
                                       "optimizer": {"name": "adam", "learning_rate": 0.01},
                                       "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same",
                                                   "activation": "relu"},
                                                  {"type": "maxpool", "size": 2, "stride": 2},
                                                  {"type": "flatten"}, {"type": "dense", "units": 2}]})["id"]
        server.wait_for_job(job, {"succeeded"}, 60)
        server.post("/v1/models", {"name": "shapes", "job_id": job})

        client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        check(client.is_server_live() and client.is_server_ready(), "the server is live and ready")
        check(client.is_model_ready("shapes") and client.is_model_ready("shapes", "1"), "the model is ready")
        metadata = client.get_model_metadata("shapes")
        check(metadata["versions"] == ["1"] and metadata["outputs"][0]["shape"] == [-1, 2], f"metadata {metadata}")
        check(client.get_server_metadata()["name"] == "kennel", "server metadata")

        pixels = [shape_image(shape, 16, offset) for shape, offset in
                  (("circle", 0), ("square", 1), ("circle", -2), ("square", -1))]
        pngs = [encode_gray_png(rows) for rows in pixels]
        expected = np.array([classify(server, png) for png in pngs], dtype=np.float32)

        def infer(inputs, binary_output, **output):
            requested = triton.InferRequestedOutput("probabilities", binary_data=binary_output, **output)
            return client.infer("shapes", inputs, outputs=[requested])

        for binary_data in (True, False):
            images = triton.InferInput("images", [len(pngs)], "BYTES")
            # In JSON, a BYTES element is the image as a base64 string; in binary data, the image's bytes.
            elements = pngs if binary_data else [base64.b64encode(png) for png in pngs]
            images.set_data_from_numpy(np.array(elements, dtype=np.object_), binary_data=binary_data)
            result = infer([images], binary_data).as_numpy("probabilities")
            check(result.shape == (4, 2) and np.allclose(result, expected, atol=1e-6),
                  f"BYTES images, binary_data={binary_data}: {result.tolist()} equals :classify's")

            tensor = triton.InferInput("input", [4, 16, 16, 1], "FP32")
            tensor.set_data_from_numpy((np.array(pixels, dtype=np.float32) / 255).reshape(4, 16, 16, 1),
                                       binary_data=binary_data)
            result = infer([tensor], binary_data).as_numpy("probabilities")
            check(np.allclose(result, expected, atol=1e-6), f"an FP32 tensor, binary_data={binary_data}")

            classes = infer([images], binary_data, class_count=1).as_numpy("probabilities")
            best = [f"{expected[row].max():f}:{expected[row].argmax()}:{LABELS[expected[row].argmax()]}"
                    for row in range(4)]
            got = [entry.decode() if isinstance(entry, bytes) else entry for entry in classes.reshape(-1)]
            check(got == best, f"classification, binary_data={binary_data}: {got}")

        error = refused(lambda: client.get_model_metadata("no-such-model"))
        check(str(error.status()) == "404", f"unknown model: {error}")
        unknown = triton.InferInput("images", [1], "BYTES")
        unknown.set_data_from_numpy(np.array([pngs[0]], dtype=np.object_))
        error = refused(lambda: client.infer("no-such-model", [unknown]))
        check(str(error.status()) == "404" and "no-such-model" in error.message(), f"inference on an unknown model: {error}")
        bad = triton.InferInput("input", [1, 8, 8, 1], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 8, 8, 1), dtype=np.float32))
        error = refused(lambda: client.infer("shapes", [bad]))
        check(str(error.status()) == "400" and "[N, 16, 16, 1]" in error.message(), f"a tensor of the wrong shape: {error}")

        # Status codes, as the protocol gives them.
        for path, status in (("/v2/models/no-such-model", 404), ("/v2/models/shapes/versions/9/ready", 404)):
            try:
                urllib.request.urlopen(server.url + path, timeout=10)
                raise AssertionError(f"{path} answered 200")
            except urllib.error.HTTPError as answer:
                check(answer.code == status and "error" in json.loads(answer.read()), f"{path} answers {status}")
    print("tritonclient: all checks passed")


if __name__ == "__main__":
    main()
