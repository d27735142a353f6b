"""A Kennel server for the browser test: started on a free port with a fresh data directory, driven over its REST
API with the standard library, and stopped (killed if it will not stop) however the test ends."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


class KennelServer:
    def __init__(self, binary, repo, log_path):
        self.binary = binary
        self.repo = repo
        self.log_path = log_path
        self.data_dir = tempfile.mkdtemp(prefix="kennel-browser-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def __enter__(self):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--port", str(self.port), "--data-dir", self.data_dir, "--no-demo",
             "--public", os.path.join(self.repo, "public"), "--migrations", os.path.join(self.repo, "migrations")],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for(self.reachable, 20, "the server to answer /healthz")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def reachable(self):
        if self.process.poll() is not None:
            raise AssertionError(f"kennel exited with status {self.process.returncode}; see {self.log_path}")
        try:
            return self.request("GET", "/healthz") is not None
        except OSError:
            return False

    def request(self, method, path, body=None):
        """The decoded JSON answer; raises urllib.error.HTTPError for an error status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return json.loads(text) if text else {}

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body):
        return self.request("POST", path, body)

    def wait_for_job(self, job_id, states, timeout):
        """The job once it is in one of `states`; fails early if it ends in another final state."""
        final = {"succeeded", "failed", "cancelled"}
        job = {}

        def reached():
            nonlocal job
            job = self.get(f"/v1/jobs/{job_id}")
            if job["state"] in final and job["state"] not in states:
                raise AssertionError(f"job {job_id} ended {job['state']}: {job.get('error')}")
            return job["state"] in states

        wait_for(reached, timeout, f"job {job_id} to be {' or '.join(states)}")
        return job

    def metric_count(self, job_id, tag):
        return len(self.get(f"/v1/jobs/{job_id}/metrics?tag={tag}"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
