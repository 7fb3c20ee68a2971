"""The app on more than one machine: two app servers (separate gunicorn masters on two ports)
and two background workers, all on one PostgreSQL, one Redis and one S3 server
(`bench.cluster`), each with a media folder of its own.

1. an image uploaded through server A is listed and downloaded through server B;
2. a version generated through A is built by a worker, exported, and downloaded through B with
   the official SDK (`version.download`);
3. a worker killed with SIGKILL in the middle of a generation: the other one finishes it, and
   the export is complete and valid;
4. a key revoked through A is refused by B on the very next request;
5. nothing of the app is left on the servers' or the workers' own disks.
"""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy
import pytest
import requests
from PIL import Image as PILImage

from bench.cluster import Missing, cluster
from tests.parallel import own_redis_database

pytestmark = [pytest.mark.live, pytest.mark.postgres]

LEASE = 4  # seconds: how soon a stopped worker's work is handed on


@pytest.fixture
def machines(tmp_path):
    root = tmp_path / "cluster"
    root.mkdir()
    try:
        running = cluster(root, redis=own_redis_database("redis://127.0.0.1:6379/14"), lease_seconds=LEASE)
        with running as machines:
            machines.start_server()
            machines.start_server()
            machines.start_worker("worker-1")
            machines.start_worker("worker-2")
            yield machines
    except Missing as missing:
        pytest.skip(str(missing))


def photo(seed: int, size=(320, 240)) -> bytes:
    """A noisy JPEG of its own (by `seed`)."""
    pixels = numpy.random.default_rng(seed).integers(0, 255, size=(size[1], size[0], 3), dtype=numpy.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def upload(server: str, key: str, project: str, data: bytes, name: str, split: str = "train") -> int:
    answer = requests.post(
        f"{server}/dataset/{project}/upload", params={"api_key": key, "name": name, "split": split},
        files={"file": (name, data, "image/jpeg")}, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return int(answer.json()["id"])


def annotate(server: str, key: str, project: str, image: int, name: str) -> None:
    coco = {
        "images": [{"id": 1, "file_name": name, "width": 320, "height": 240}],
        "categories": [{"id": 1, "name": "can"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 30, 120, 90]}],
    }
    answer = requests.post(
        f"{server}/dataset/{project}/annotate/{image}", params={"api_key": key, "name": f"{name}.json"},
        json={"annotationFile": json.dumps(coco)}, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text


def new_project(server: str, key: str, name: str) -> str:
    body = {"name": name, "type": "object-detection", "annotation": "cans"}
    answer = requests.post(f"{server}/acme/projects", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"].split("/")[-1]


def wait_for(condition, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(message)


SDK = """
import json, os, sys
import roboflow
rf = roboflow.Roboflow(api_key=os.environ["KEY"])
version = rf.workspace("acme").project(sys.argv[1]).version(int(sys.argv[2]))
dataset = version.download("coco", location="dataset", overwrite=True)
print("SDK-REPORT " + json.dumps({"location": dataset.location, "images": version.images}))
"""


def sdk_download(tmp_path, server: str, key: str, project: str, number: int) -> dict:
    (tmp_path / "sdk.py").write_text(textwrap.dedent(SDK))
    done = subprocess.run(
        [sys.executable, str(tmp_path / "sdk.py"), project, str(number)], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "API_URL": server, "KEY": key}, timeout=300,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("SDK-REPORT ")]
    assert lines, f"exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("SDK-REPORT "))


def uploaded_through_one_listed_and_downloaded_through_the_other(machines) -> None:
    a, b = machines.servers
    key = machines.key
    data = photo(3)
    project = new_project(a, key, "Crossing")
    image = upload(a, key, project, data, "crossing.jpg")
    listed = requests.post(
        f"{b}/acme/{project}/search", json={"fields": ["id", "name"]}, headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )  # fmt: skip
    assert [hit["id"] for hit in listed.json()["results"]] == [str(image)]
    got = requests.get(
        f"{b}/acme/{project}/images/{image}/file", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert got.status_code == 200 and got.content == data


def generated_through_one_downloaded_through_the_other_with_the_sdk(machines, tmp_path) -> None:
    a, b = machines.servers
    key = machines.key
    project = new_project(a, key, "Relay")
    for n in range(4):
        annotate(a, key, project, upload(a, key, project, photo(n + 5), f"relay-{n}.jpg"), f"relay-{n}.jpg")
    settings: dict = {
        "preprocessing": {"resize": {"width": 160, "height": 120, "format": "Stretch to"}},
        "augmentation": {},
    }
    generated = requests.post(f"{a}/acme/{project}/generate", json=settings, params={"api_key": key}, timeout=30)
    assert generated.status_code == 200, generated.text
    report = sdk_download(tmp_path, b, key, project, generated.json()["version"])
    coco = json.loads((tmp_path / "dataset" / "train" / "_annotations.coco.json").read_text())
    assert len(coco["images"]) == 4 and {(i["width"], i["height"]) for i in coco["images"]} == {(160, 120)}
    assert report["images"] == 4
    for entry in coco["images"]:
        with PILImage.open(tmp_path / "dataset" / "train" / entry["file_name"]) as picture:
            assert picture.size == (160, 120)


def a_worker_killed_mid_generation_leaves_it_to_the_other(machines) -> None:
    a, b = machines.servers
    key = machines.key
    project = new_project(a, key, "Killed")
    for n in range(60):
        annotate(a, key, project, upload(a, key, project, photo(n + 11), f"k-{n}.jpg"), f"k-{n}.jpg")
    settings = {
        "preprocessing": {},
        "augmentation": {
            "image": {"versions": 3},
            "blur": {"pixels": 2},
            "noise": {"percent": 5},
            "rotate": {"degrees": 10},
        },
    }
    generated = requests.post(f"{a}/acme/{project}/generate", json=settings, params={"api_key": key}, timeout=30)
    assert generated.status_code == 200, generated.text
    number = generated.json()["version"]
    [(version_id,)] = machines.query(
        "SELECT v.id FROM workspaces_version v JOIN workspaces_project p ON p.id = v.project_id "
        "WHERE p.slug = %s AND v.number = %s", project, number,
    )  # fmt: skip

    def halfway():
        [(progress,)] = machines.query("SELECT progress FROM workspaces_version WHERE id = %s", version_id)
        return 0 < progress < 0.5

    wait_for(halfway, 120, "the generation never was halfway")
    shown = requests.get(f"{b}/acme/{project}/{number}", params={"api_key": key}, timeout=10).json()["version"]
    assert shown["generating"] is True and 0 < shown["progress"] < 1, shown
    [(holders,)] = machines.query(  # the worker running the version's task (worker_ids: a JSON list)
        "SELECT t.worker_ids FROM django_tasks_database_dbtaskresult t JOIN workspaces_version v "
        "ON v.task_id = t.id::text WHERE v.id = %s AND t.status = 'RUNNING'", version_id,
    )  # fmt: skip
    holder = holders[-1]
    killed = machines.workers[holder]
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)

    def finished():
        answer = requests.get(f"{b}/acme/{project}/{number}", params={"api_key": key}, timeout=10)
        return (
            answer.json()["version"]
            if answer.status_code == 200 and not answer.json()["version"]["generating"]
            else None
        )

    shown = wait_for(finished, 180, "the other worker never finished the version")
    assert shown["images"] == shown["splits"]["train"] == 180
    [(attempts, state)] = machines.query("SELECT attempts, state FROM workspaces_version WHERE id = %s", version_id)
    assert (attempts, state) == (2, "ready")

    def exported():
        answer = requests.get(f"{a}/acme/{project}/{number}/coco", params={"api_key": key}, timeout=10)
        assert answer.status_code in (200, 202), answer.text
        return answer.json()["export"] if answer.status_code == 200 else None

    link = wait_for(exported, 180, "the export was never built")["link"]
    zipped = requests.get(link, timeout=60)  # through the app, then the object store's presigned URL
    assert zipped.status_code == 200 and zipped.history and zipped.history[0].status_code == 302
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    assert archive.testzip() is None
    members = [name for name in archive.namelist() if name.endswith(".jpg")]
    coco = json.loads(archive.read("train/_annotations.coco.json"))
    assert len(members) == len(coco["images"]) == 180
    for name in members[::17]:
        with PILImage.open(io.BytesIO(archive.read(name))) as picture:
            picture.verify()


def revoked_through_one_refused_by_the_other_at_once(machines) -> None:
    a, b = machines.servers
    admin = {"Authorization": f"Bearer {machines.key}"}
    made = requests.post(
        f"{a}/acme/api-keys", json={"name": "short-lived", "scopes": ["workspace:read"]}, headers=admin, timeout=10
    )
    secret, key_id = made.json()["key"], made.json()["keyId"]
    probe = {"Authorization": f"Bearer {secret}"}
    for _ in range(5):  # both servers' processes have read (and keep) the key
        assert requests.get(f"{b}/acme", headers=probe, timeout=10).status_code == 200
    assert requests.delete(f"{a}/acme/api-keys/{key_id}", headers=admin, timeout=10).status_code in (200, 204)
    refused = requests.get(f"{b}/acme", headers=probe, timeout=10)
    assert refused.status_code == 401, refused.text


def test_two_app_servers_and_two_workers_on_one_database_cache_and_object_store(machines, tmp_path):
    uploaded_through_one_listed_and_downloaded_through_the_other(machines)
    generated_through_one_downloaded_through_the_other_with_the_sdk(machines, tmp_path)
    a_worker_killed_mid_generation_leaves_it_to_the_other(machines)
    revoked_through_one_refused_by_the_other_at_once(machines)
    assert machines.files_on_local_disks() == []  # after every upload, generation, export and download above
    [(images,)] = machines.query("SELECT count(*) FROM workspaces_image")
    assert images > 60  # all of them in the bucket
