"""Every preset (and a network using the other exportable layers) trained briefly on a running Kennel, exported as
ONNX over HTTP and with `kennel export`: each passes onnx.checker, carries its labels and preprocessing, and
onnxruntime's probabilities equal Kennel's (through the v2 FP32 input) within 1e-4 on the same inputs.

Usage: onnx_test.py KENNEL_BINARY OUT_DIR (run by Tests/interop/run.sh inside its venv)."""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import numpy as np
import onnx
import onnxruntime
import tritonclient.http as triton

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "Tests", "browser"))
from kennel_server import KennelServer  # noqa: E402
from pngs import encode_gray_png  # noqa: E402

# name: (height, width, channels, preset or layers)
NETWORKS = {
    "dogs-seed": (250, 151, 1, "dogs-seed"),
    "fashion-convnet": (28, 28, 1, "fashion-convnet"),
    "fashion-bn": (28, 28, 1, "fashion-bn"),
    "catsdogs-seed": (128, 128, 3, "catsdogs-seed"),
    "cifar-cnn": (32, 32, 3, "cifar-cnn"),
    # The layers no preset uses: LRN, average and global average pooling, valid padding, strides that differ by
    # axis, the other activations, batch normalization after a dense layer.
    "other-layers": (20, 18, 1, [
        {"type": "conv2d", "filters": 6, "kernel": [3, 5], "stride": [1, 2], "padding": "valid", "activation": "tanh"},
        {"type": "lrn", "depth_radius": 2, "bias": 1.5, "alpha": 0.01, "beta": 0.75},
        {"type": "avgpool", "size": 2, "stride": 2, "padding": "same"},
        {"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "activation": "leaky_relu", "alpha": 0.1},
        {"type": "batchnorm"},
        {"type": "globalavgpool"},
        {"type": "dense", "units": 12, "activation": "sigmoid"},
        {"type": "batchnorm"},
        {"type": "dense", "units": 3},
    ]),
}


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def pattern(height, width, label, index):
    """A class's image: stripes whose slope depends on the class, rows of 0…255 ints."""
    return [[(x * (label + 2) + y * (index + 1) * 3 + label * 50) % 256 for x in range(width)] for y in range(height)]


def write_images(root, height, width, classes, per_class):
    for label in range(classes):
        folder = os.path.join(root, f"c{label}")
        os.makedirs(folder, exist_ok=True)
        for index in range(per_class):
            with open(os.path.join(folder, f"{index}.png"), "wb") as file:
                file.write(encode_gray_png(pattern(height, width, label, index)))


def download(server, path):
    with urllib.request.urlopen(server.url + path, timeout=120) as response:
        return response.read(), response.headers


def main():
    binary, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    random = np.random.default_rng(4)
    with tempfile.TemporaryDirectory(prefix="kennel-onnx-") as work, \
            KennelServer(binary, REPO, os.path.join(out, "onnx-server.log")) as server:
        client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}", network_timeout=120)
        for name, (height, width, channels, network) in NETWORKS.items():
            classes = 3
            images = os.path.join(work, name)
            write_images(images, height, width, classes, 4)
            imported = server.post("/v1/datasets", {"name": name, "path": images, "format": "imagefolder",
                                                    "width": width, "height": height, "channels": channels})
            server.wait_for_job(imported["id"], {"succeeded"}, 60)
            spec = {"dataset": name, "epochs": 3, "batch_size": 4, "seed": 1,
                    "optimizer": {"name": "adam", "learning_rate": 0.003}}
            spec.update({"preset": network} if isinstance(network, str) else {"layers": network})
            job = server.post("/v1/jobs", spec)["id"]
            server.wait_for_job(job, {"succeeded"}, 300)
            server.post("/v1/models", {"name": name, "job_id": job})

            data, headers = download(server, f"/v1/models/{name}/versions/1/model.onnx")
            check(headers["Content-Type"] == "application/octet-stream", f"{name}: served as a download")
            path = os.path.join(work, f"{name}.onnx")
            with open(path, "wb") as file:
                file.write(data)
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            check(model.opset_import[0].version == 17, f"{name}: passes onnx.checker (opset 17)")
            properties = {entry.key: entry.value for entry in model.metadata_props}
            check(json.loads(properties["labels"]) == ["c0", "c1", "c2"]
                  and json.loads(properties["preprocessing"])["width"] == str(width)
                  and properties["name"] == name and properties["version"] == "1",
                  f"{name}: labels and preprocessing in metadata_props")

            # Two images of different classes, with noise: what the model separates, so a wrong layout shows.
            inputs = np.stack([np.repeat(np.array(pattern(height, width, label, 1), dtype=np.float32)[:, :, None],
                                         channels, axis=2) / 255 for label in (0, 2)])
            inputs = np.clip(inputs + random.normal(0, 0.05, inputs.shape).astype(np.float32), 0, 1)
            tensor = triton.InferInput("input", list(inputs.shape), "FP32")
            tensor.set_data_from_numpy(inputs, binary_data=True)
            kennel = client.infer(name, [tensor]).as_numpy("probabilities")
            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            runtime = session.run(["probabilities"], {"input": inputs})[0]
            difference = float(np.abs(kennel - runtime).max())
            # Not a comparison of two near-uniform answers: the two inputs' probabilities differ clearly.
            spread = float(np.abs(kennel[0] - kennel[1]).max())
            check(spread > 1e-3, f"{name}: the inputs' probabilities differ by {spread:.2e}")
            check(runtime.shape == (2, classes) and difference <= 1e-4,
                  f"{name}: onnxruntime equals Kennel within 1e-4 (largest difference {difference:.2e})")

        # The command line writes the same file.
        exported = os.path.join(work, "cli.onnx")
        subprocess.run([binary, "export", "--model", "cifar-cnn", "--version", "1", "-o", exported,
                        "--data-dir", server.data_dir, "--migrations", os.path.join(REPO, "migrations")],
                       check=True, capture_output=True)
        with open(exported, "rb") as file:
            check(file.read() == download(server, "/v1/models/cifar-cnn/versions/1/model.onnx")[0],
                  "kennel export writes what the HTTP download gives")
        missing = subprocess.run([binary, "export", "--model", "cifar-cnn", "--version", "9", "-o", exported,
                                  "--data-dir", server.data_dir, "--migrations", os.path.join(REPO, "migrations")],
                                 capture_output=True, text=True)
        check(missing.returncode != 0 and "no version 9" in missing.stderr, f"a missing version: {missing.stderr.strip()}")
        try:
            download(server, "/v1/models/cifar-cnn/versions/9/model.onnx")
            raise AssertionError("a missing version was downloaded")
        except urllib.error.HTTPError as error:
            check(error.code == 404, "a missing version's download is 404")
    print("onnx: all checks passed")


if __name__ == "__main__":
    main()
